"""OPRO (Yang et al. 2024): the proposer sees the best earlier instructions with their scores, worst to
best, and a few exemplars showing where an instruction goes, and writes a new one meant to score higher.

Scores shown are train accuracies as integers 0-100 (OPRO's format) and exemplars come from train:
selection stays on dev and the report on test, and the proposer sees neither. Pure logic like pe2.py:
the model is a `Complete` callable and one call makes one candidate, so the campaign can charge each
call to its own node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from string import Template

from opendgm.prompts.data import Example
from opendgm.prompts.pe2 import Candidate, parse_prompt
from opendgm.prompts.scoring import normalise
from opendgm.prompts.target import Complete
from opendgm.prompts.template import Placement, render

TEMPERATURE = 1.0  # OPRO samples at 1.0 so the proposals of one step differ
SLOT = "<INS>"


@dataclass(frozen=True)
class Settings:
    """OPRO's knobs: `per_step` proposals per step from one meta-prompt showing the `top_k` best earlier
    instructions and `exemplars` train examples."""

    steps: int = 3
    per_step: int = 8
    top_k: int = 20
    exemplars: int = 3
    max_words: int = 50


@dataclass(frozen=True)
class Scored:
    """An earlier prompt with its train accuracy: the only score the proposer is shown (dev selects)."""

    prompt: Candidate
    train: float


def default_meta_prompt() -> str:
    """The shipped OPRO meta-prompt ($history, $slot, $exemplars, $max_words)."""
    return files("opendgm.prompts").joinpath("meta/opro.md").read_text()


def key(text: str) -> str:
    """What makes two instructions the same: OPRO dedupes by hash; case, spacing and end punctuation
    do not make a new instruction here either."""
    return normalise(text)


def top_k(pool: Sequence[Scored], k: int) -> list[Scored]:
    """The k best on train, each text once (the older on a tie), sorted ascending: the best comes last,
    nearest to where the proposer writes."""
    best: dict[str, Scored] = {}
    for candidate in sorted(pool, key=lambda c: -c.train):
        best.setdefault(key(candidate.prompt.text), candidate)
    return list(best.values())[:k][::-1]


def history_block(history: Sequence[Scored]) -> str:
    """OPRO's format: each text with its train score as a whole percentage, so small noise reads as a tie."""
    return "\n\n".join(f"text:\n{c.prompt.text}\nscore:\n{round(100 * c.train)}" for c in history)


def exemplar_block(exemplars: Sequence[Example], placement: Placement) -> str:
    """Each exemplar rendered as the task model gets it, with the instruction's slot left open."""
    return "\n\n".join(f"input:\n{render(SLOT, e.input, placement)}\noutput:\n{e.target}" for e in exemplars)


def propose(
    complete: Complete,
    meta_prompt: str,
    history: Sequence[Scored],
    exemplars: Sequence[Example],
    placement: Placement,
    max_words: int,
) -> str:
    """One new instruction from the meta-prompt filled with `history` (ascending) and `exemplars`."""
    fields = {
        "history": history_block(history),
        "slot": SLOT,
        "exemplars": exemplar_block(exemplars, placement),
        "max_words": str(max_words),
    }
    message = Template(meta_prompt).safe_substitute(fields).strip()
    return parse_prompt(complete([{"role": "user", "content": message}], TEMPERATURE), max_words)
