"""PE2 (Ye et al. 2024): reflect on a batch of failures, then rewrite the prompt; beam search with
back-tracking over every earlier candidate.

Pure logic: the model is a `Complete` callable and scores come from the caller, so the search can be
tested without a server and the campaign stays the only writer of the archive.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from string import Template

from opendgm.prompts.target import Attempt, Complete
from opendgm.prompts.template import Placement, full_template

STEP_SEPARATOR = "=== step 2 ==="
_PROMPT_TAG = re.compile(r"<prompt>(.*?)(?:</prompt>|$)", re.DOTALL | re.IGNORECASE)


def default_meta_prompt() -> str:
    """The shipped PE2 meta-prompt: a two-step task description, the context specification (full
    template) and a per-example reasoning template; step 2 follows `STEP_SEPARATOR`."""
    return files("opendgm.prompts").joinpath("meta/pe2.md").read_text()


@dataclass(frozen=True)
class Settings:
    """PE2's search knobs; defaults are the paper's (T=3, n=4, m=4, batch 2, no step size/history)."""

    steps: int = 3
    beam: int = 4
    children: int = 4
    batch_size: int = 2
    step_size: int | None = None  # "change up to s words"
    history: bool = False  # show the parent's lineage with dev scores (verbalised momentum)
    max_words: int = 50


@dataclass(frozen=True)
class Candidate:
    """A prompt known to the search: its archive id, text, dev accuracy and the step that made it."""

    id: str
    text: str
    dev: float
    step: int


@dataclass(frozen=True)
class Proposal:
    text: str
    reasoning: str


def select_beam(pool: Sequence[Candidate], n: int) -> list[Candidate]:
    """The n best on dev among *all* candidates so far (back-tracking); ties go to the older one, and a
    text already chosen is skipped so duplicates do not crowd the beam."""
    chosen: dict[str, Candidate] = {}
    for candidate in sorted(pool, key=lambda c: (-c.dev, c.step, c.id)):
        chosen.setdefault(candidate.text, candidate)
    return list(chosen.values())[:n]


def hard_negatives(attempts: Sequence[Attempt], size: int, rng: random.Random) -> list[Attempt]:
    """A batch of up to `size` failures, drawn only from the errors (empty when there are none)."""
    errors = [a for a in attempts if not a.correct]
    return rng.sample(errors, min(size, len(errors)))


def format_batch(batch: Sequence[Attempt]) -> str:
    return "\n".join(
        f"### Example {i}\nInput: {a.example.input}\nOutput: {a.output.strip()}\nLabel: {a.example.target}\n"
        for i, a in enumerate(batch, 1)
    )


def format_history(lineage: Sequence[Candidate]) -> str:
    """The parent's ancestry oldest first: which prompts led here and how they scored."""
    if not lineage:
        return ""
    lines = [f'- step {c.step}: dev accuracy {c.dev:.2f}: "{c.text}"' for c in lineage]
    return (
        "\n## Optimisation history\nHigher accuracy is better; continue edit directions that helped.\n"
        + "\n".join(lines)
        + "\n"
    )


def proposal_turns(
    meta_prompt: str,
    prompt: str,
    batch: Sequence[Attempt],
    placement: Placement,
    settings: Settings,
    lineage: Sequence[Candidate] = (),
    context: str | None = None,
) -> tuple[str, str]:
    """The step-1 (analysis) and step-2 (rewrite) user turns, filled from `meta_prompt`.

    `context` replaces the full template of `placement` when the prompt is not a task instruction (an
    agent's prompt file, say), so the proposer still sees exactly where its text will go."""
    if STEP_SEPARATOR not in meta_prompt:
        raise ValueError(f"a PE2 meta-prompt needs a {STEP_SEPARATOR!r} line between its two steps")
    step1, step2 = meta_prompt.split(STEP_SEPARATOR, 1)
    step = f"Change at most {settings.step_size} words." if settings.step_size else "Edit as much as needed."
    fields = {
        "batch_size": str(len(batch)),
        "full_template": context or full_template(placement),
        "prompt": prompt,
        "examples": format_batch(batch),
        "history": format_history(lineage) if settings.history else "",
        "step_size": step,
        "max_words": str(settings.max_words),
    }
    return Template(step1).safe_substitute(fields).strip(), Template(step2).safe_substitute(fields).strip()


def parse_prompt(text: str, max_words: int) -> str:
    """The new prompt from the step-2 answer (between <prompt> tags when present), capped in length."""
    match = _PROMPT_TAG.search(text)
    body = (match.group(1) if match else text).strip().strip('"').strip()
    words = body.split()
    return " ".join(words[:max_words]) if len(words) > max_words else body


def propose(
    complete: Complete,
    meta_prompt: str,
    prompt: str,
    batch: Sequence[Attempt],
    placement: Placement,
    settings: Settings,
    lineage: Sequence[Candidate] = (),
    context: str | None = None,
) -> Proposal:
    """One child: reasoning at temperature 0, then the rewrite at 0.7 (PE2's decoding)."""
    first, second = proposal_turns(meta_prompt, prompt, batch, placement, settings, lineage, context)
    messages = [{"role": "user", "content": first}]
    reasoning = complete(messages, 0.0)
    messages += [{"role": "assistant", "content": reasoning}, {"role": "user", "content": second}]
    return Proposal(parse_prompt(complete(messages, 0.7), settings.max_words), reasoning)
