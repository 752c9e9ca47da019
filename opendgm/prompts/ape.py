"""APE (Zhou et al. 2023): induce an instruction from input→output demos, many times over differently
sampled demos; iterative APE then asks for meaning-preserving variations of the best instructions.

Pure logic like pe2.py: the model is a `Complete` callable and one call makes one candidate, so the
campaign can propose a node before each call and charge it there. Demos come from train only: dev selects
and test reports, so neither may reach the proposer.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from string import Template

from opendgm.prompts.data import Example
from opendgm.prompts.pe2 import parse_prompt
from opendgm.prompts.target import Complete

TEMPERATURE = 0.9  # APE samples its proposals; greedy decoding would make every candidate alike


@dataclass(frozen=True)
class Settings:
    """APE's knobs: `candidates` induced (and written per paraphrase step), `demos` shown per induction,
    `paraphrase_steps` rounds of iterative APE over the `keep` best prompts on dev."""

    candidates: int = 8
    demos: int = 5
    paraphrase_steps: int = 1
    keep: int = 3
    max_words: int = 50


def default_meta_prompt() -> str:
    """The shipped induction meta-prompt ($n_demos, $demos, $max_words)."""
    return files("opendgm.prompts").joinpath("meta/ape.md").read_text()


def default_paraphrase_prompt() -> str:
    """The shipped iterative-APE meta-prompt ($instruction, $max_words)."""
    return files("opendgm.prompts").joinpath("meta/ape_paraphrase.md").read_text()


def demo_sets(train: Sequence[Example], settings: Settings, seed: int) -> list[list[Example]]:
    """One subsample of train per candidate, each from its own seed: candidates see different demos, and
    a rerun sees the same ones."""
    size = min(settings.demos, len(train))
    return [random.Random(f"ape:{seed}:{i}").sample(list(train), size) for i in range(settings.candidates)]


def format_demos(demos: Sequence[Example]) -> str:
    return "\n\n".join(f"Input: {e.input}\nOutput: {e.target}" for e in demos)


def induce(complete: Complete, meta_prompt: str, demos: Sequence[Example], max_words: int) -> str:
    """One candidate instruction that would turn the demos' inputs into their outputs ("" if none given)."""
    fields = {"n_demos": str(len(demos)), "demos": format_demos(demos), "max_words": str(max_words)}
    return _ask(complete, Template(meta_prompt).safe_substitute(fields), max_words)


def paraphrase(complete: Complete, meta_prompt: str, instruction: str, max_words: int) -> str:
    """A variation of a good instruction that keeps its meaning (iterative APE's local search)."""
    fields = {"instruction": instruction, "max_words": str(max_words)}
    return _ask(complete, Template(meta_prompt).safe_substitute(fields), max_words)


def _ask(complete: Complete, message: str, max_words: int) -> str:
    return parse_prompt(complete([{"role": "user", "content": message.strip()}], TEMPERATURE), max_words)
