"""What a child learns from (its "entry"): one failed task of the parent, or one of DGM's special habits.

Three rules, picked by `self_improve.entry_rule`:

- `opendgm` (the default, unchanged): when at least `empty_share` of the parent's results are empty
  patches, `empty_patches` with chance `empty_patches`; otherwise a random failed task.
- `dgm_swebench` (DGM's SWE-bench rule, `DGM_outer.py`): the checks run in order, each firing with its
  chance when its condition holds: empty patches (as above), then `stochasticity` (always eligible),
  then `context_length` (when the parent ran out of model context on a task it failed); otherwise a random
  unresolved task (a patch was submitted and failed). With every chance 0.25 and every condition true,
  the three special entries come out 0.25, 0.1875 and 0.1406 of the time.
- `dgm_polyglot` (DGM's Polyglot rule): no special entries; a random empty or unresolved task, else any task.

Special entries carry a few example tasks (`evidence`) so their diagnosis meta-prompts see real cases.
DGM's `unresolved_ids == 0` guard compares a list with an int and never fires; here a parent with no
unresolved task falls back to any failed task, then to any task.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from opendgm.archive import TaskResult
from opendgm.prompts import SPECIAL_ENTRIES

KINDS = ("task", *SPECIAL_ENTRIES)
SPECIAL = SPECIAL_ENTRIES
EVIDENCE_TASKS = 3  # example tasks shown to a special entry's diagnosis
# What a trajectory holds when the agent's model refused a conversation as too long (the gateway's error
# kind, and the exit status the agents of the contract write).
CONTEXT_MARKERS = ("context_length_exceeded", '"context_limit"')


class Chances(BaseModel):
    """The chances of DGM's special entries (`self_improve.entry_chances`); DGM uses 0.1 and 0.25 for all three."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    empty_share: float = Field(
        0.1, ge=0, le=1, description="Share of empty patches that makes `empty_patches` eligible."
    )
    empty_patches: float = Field(0.25, ge=0, le=1, description="Chance of learning from the parent's empty patches.")
    stochasticity: float = Field(0.25, ge=0, le=1, description="Chance of learning to be reliable (dgm_swebench).")
    context_length: float = Field(
        0.25, ge=0, le=1, description="Chance of learning to fit long tasks, once the parent ran out of context."
    )


@dataclass(frozen=True)
class Entry:
    """What the diagnosis is about: one task (`task_id`), or a special habit with example tasks."""

    kind: str  # one of KINDS
    task_id: str | None = None
    evidence: tuple[str, ...] = field(default=())

    def record(self) -> dict[str, object]:
        """The entry as stored in the child's meta."""
        return {"kind": self.kind, "task_id": self.task_id, "evidence": list(self.evidence)}


def _ids(results: Sequence[TaskResult]) -> list[str]:
    return sorted({r.task_id for r in results})


def _special(kind: str, pool: Sequence[TaskResult], rng: random.Random) -> Entry:
    ids = _ids(pool)
    return Entry(kind, None, tuple(sorted(rng.sample(ids, min(EVIDENCE_TASKS, len(ids))))))


def _empty(results: Sequence[TaskResult]) -> list[TaskResult]:
    return [r for r in results if r.status == "empty_patch"]


def _failed(results: Sequence[TaskResult]) -> list[TaskResult]:
    return [r for r in results if not r.resolved]


def opendgm_rule(
    results: Sequence[TaskResult], rng: random.Random, chances: Chances, hit_context: Callable[[TaskResult], bool]
) -> Entry | None:
    failed, empty = _failed(results), _empty(results)
    if not failed:
        return None
    if len(empty) >= chances.empty_share * len(results) and rng.random() < chances.empty_patches:
        return _special("empty_patches", empty, rng)
    return Entry("task", rng.choice(sorted(failed, key=lambda r: r.task_id)).task_id)  # the draws of earlier runs


def dgm_swebench(
    results: Sequence[TaskResult], rng: random.Random, chances: Chances, hit_context: Callable[[TaskResult], bool]
) -> Entry | None:
    empty, failed = _empty(results), _failed(results)
    if empty and len(empty) >= chances.empty_share * len(results) and rng.random() < chances.empty_patches:
        return _special("empty_patches", empty, rng)
    if rng.random() < chances.stochasticity:
        return _special("stochasticity", results, rng)
    overflowed = [r for r in failed if hit_context(r)]  # DGM looks at the empty and unresolved tasks
    if overflowed and rng.random() < chances.context_length:
        return _special("context_length", overflowed, rng)
    unresolved = [r for r in failed if r.status != "empty_patch"] or failed
    return Entry("task", rng.choice(_ids(unresolved))) if unresolved else None


def dgm_polyglot(
    results: Sequence[TaskResult], rng: random.Random, chances: Chances, hit_context: Callable[[TaskResult], bool]
) -> Entry | None:
    failed = _failed(results)
    return Entry("task", rng.choice(_ids(failed or results))) if results else None


RULES = {"opendgm": opendgm_rule, "dgm_swebench": dgm_swebench, "dgm_polyglot": dgm_polyglot}


def choose(
    rule: str,
    results: Sequence[TaskResult],
    rng: random.Random,
    chances: Chances = Chances(),
    hit_context: Callable[[TaskResult], bool] = lambda _result: False,
) -> Entry:
    """The entry of a child whose parent has these results (at least one); any task when the rule has none."""
    entry = RULES[rule](results, rng, chances, hit_context)
    return entry or Entry("task", rng.choice(_ids(results)))


def context_overflowed(read_text: Callable[[str], str]) -> Callable[[TaskResult], bool]:
    """Whether a result's trajectory shows the agent's model refusing the conversation as too long."""

    def check(result: TaskResult) -> bool:
        if not result.trajectory_path:
            return False
        try:
            text = read_text(result.trajectory_path)
        except OSError:
            return False
        return any(marker in text for marker in CONTEXT_MARKERS)

    return check
