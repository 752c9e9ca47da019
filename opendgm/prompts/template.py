"""Where a prompt sits relative to the input: PE2's "full template" (context specification).

An instruction goes before the question; a chain-of-thought trigger goes after `A:`. The proposer is
shown the same rendering the task model gets, so its edits fit the slot.
"""

from __future__ import annotations

from string import Template
from typing import Literal

Placement = Literal["before", "after"]


def render(prompt: str, question: str, placement: Placement = "before") -> str:
    """The exact user message the task model sees."""
    if placement == "before":
        return f"{prompt}\n\nQ: {question}\nA:"
    return f"Q: {question}\nA: {prompt}"


def full_template(placement: Placement = "before") -> str:
    """The template with placeholders, as shown to the proposer."""
    return render("<prompt>", "<input>", placement)


def missing_placeholders(original: str, rewrite: str) -> list[str]:
    """The `$names` of `original` that `rewrite` lost: a rewritten template must still take every value
    its caller fills in, or the caller's text silently disappears from the prompt."""
    kept = set(Template(rewrite).get_identifiers())
    return [name for name in Template(original).get_identifiers() if name not in kept]
