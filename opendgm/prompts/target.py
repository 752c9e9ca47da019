"""Running a prompt on examples with the task model: the one place outputs are produced and graded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opendgm.llm import Router
from opendgm.prompts.data import Example
from opendgm.prompts.template import Placement, render

# (messages, temperature) -> the model's answer text. A Router adapter in campaigns, a function in tests.
Complete = Callable[[list[dict[str, str]], float], str]
Scorer = Callable[[str, str], bool]


@dataclass(frozen=True)
class Attempt:
    """One graded run of a prompt on one example; the errors among them are PE2's hard negatives."""

    example: Example
    output: str
    correct: bool


def attempt(complete: Complete, scorer: Scorer, prompt: str, example: Example, placement: Placement) -> Attempt:
    """Ask the task model (greedy, so a score is reproducible) and grade its answer."""
    output = complete([{"role": "user", "content": render(prompt, example.input, placement)}], 0.0)
    return Attempt(example, output, scorer(output, example.target))


def accuracy(attempts: Sequence[Attempt]) -> float:
    return sum(a.correct for a in attempts) / len(attempts) if attempts else 0.0


def completer(router: Router, role: str, node: str | None, purpose: str) -> Complete:
    """A Router role as a `Complete`, with every call charged to `node` in the ledger."""

    def complete(messages: list[dict[str, str]], temperature: float) -> str:
        return router.complete(role, messages, node=node, purpose=purpose, temperature=temperature).text

    return complete
