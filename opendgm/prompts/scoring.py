"""Exact-match scoring of a task model's free-text output against a label.

Models wrap answers in prose, so the answer is first extracted (after the last "answer is"/"answer:",
else the last non-empty line) and then compared normalised; numeric labels also accept the last number.
Changing these rules changes scores, so they carry a version that goes into every archive key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ANSWER = re.compile(r"answer\s*(?:is|:)\s*", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def normalise(text: str) -> str:
    text = " ".join(text.lower().split())
    return text.strip(" .!\"'`*")


def extract_answer(output: str) -> str:
    """The part of `output` that states the answer."""
    parts = _ANSWER.split(output)
    if len(parts) > 1:
        tail = parts[-1].strip()
        return tail.splitlines()[0] if tail else ""
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@dataclass(frozen=True)
class ExactMatch:
    """Exact match after answer extraction and normalisation."""

    name: str = "exact_match"
    version: str = "1"

    def __call__(self, output: str, target: str) -> bool:
        answer, label = normalise(extract_answer(output)), normalise(target)
        if answer == label:
            return True
        if _NUMBER.fullmatch(label):
            numbers = _NUMBER.findall(answer)
            return bool(numbers) and float(numbers[-1]) == float(label)
        return False
