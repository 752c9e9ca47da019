"""MPO's pure pieces: merging per-sample rubrics into one without duplicate criteria, and the
reward-hacking alarm (the judge's proxy score rises while a held-out gold check stays flat or falls).

MPO itself has no statistical detector; the alarm is ours, so a rubric lineage that the policy learns
to exploit is flagged instead of being selected for its rising judge scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_ITEM = re.compile(r"<item>(.*?)</item>", re.DOTALL | re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")


def criteria(rubric: str) -> list[str]:
    """A rubric's criteria: its `<item>`s (MPO's format), else its non-empty lines without bullets."""
    items = _ITEM.findall(rubric)
    lines = items if items else [_BULLET.sub("", line) for line in rubric.splitlines()]
    return [" ".join(line.split()) for line in lines if line.strip()]


def merge(rubrics: Sequence[str]) -> str:
    """Meta-merging's mechanical part: all criteria in first-seen order, duplicates (ignoring case,
    spacing and final punctuation) kept once. Semantic overlap is the MRM's job, not this function's."""
    seen: dict[str, str] = {}
    for rubric in rubrics:
        for criterion in criteria(rubric):
            seen.setdefault(criterion.lower().rstrip(" ."), criterion)
    return "\n".join(f"<item>{c}</item>" for c in seen.values())


@dataclass(frozen=True)
class Alarm:
    fired: bool
    proxy_gain: float
    gold_gain: float


def hacking_alarm(proxy: Sequence[float], gold: Sequence[float], window: int = 3, min_gain: float = 0.05) -> Alarm:
    """Compare the last `window` points with the `window` before them, per series (rubric versions or
    training intervals, oldest first). Fires when the judge's mean rose by at least `min_gain` while the
    gold mean did not rise at all."""
    if len(proxy) != len(gold):
        raise ValueError("proxy and gold scores must be paired, one of each per point")
    if len(proxy) < 2 * window:
        return Alarm(False, 0.0, 0.0)

    def gain(series: Sequence[float]) -> float:
        recent, before = series[-window:], series[-2 * window : -window]
        return sum(recent) / window - sum(before) / window

    proxy_gain, gold_gain = gain(proxy), gain(gold)
    return Alarm(proxy_gain >= min_gain and gold_gain <= 0.0, proxy_gain, gold_gain)
