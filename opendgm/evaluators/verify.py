"""Checking that a grader is real: reference solutions must resolve, untouched stubs must not."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.task import Grade, Task
from opendgm.sandbox import BackendName

Solution = Literal["reference", "stub"]


@dataclass(frozen=True)
class Verification:
    solution: Solution
    total: int
    resolved: int
    statuses: Counter[str]
    failures: list[tuple[str, str]]  # (task id, last lines of output) of tasks that broke expectations


def verify(
    evaluator: Evaluator,
    tasks: list[Task],
    solution: Solution,
    backend: BackendName = "auto",
    workers: int = 2,
    on_progress: Callable[[Task, Grade | BaseException], None] = lambda _task, _grade: None,
) -> Verification:
    """Grade every task's reference patch (or its empty patch) and count what resolves."""

    def grade(task: Task) -> Grade:
        patch = evaluator.reference_patch(task) if solution == "reference" else ""
        if patch is None:
            raise ValueError(f"{evaluator.name} ships no reference solution for {task.id}")
        return grade_patch(evaluator, task, patch, backend, f"verify-{evaluator.name}")

    statuses: Counter[str] = Counter()
    failures: list[tuple[str, str]] = []
    executor = LocalExecutor(workers)
    try:
        for task, outcome in executor.map_unordered(grade, tasks):
            on_progress(task, outcome)
            if isinstance(outcome, BaseException):
                statuses["error"] += 1
                failures.append((task.id, f"{type(outcome).__name__}: {outcome}"))
                continue
            statuses[outcome.status] += 1
            if outcome.resolved != (solution == "reference"):
                failures.append((task.id, "\n".join(outcome.output.splitlines()[-5:])))
    finally:
        executor.shutdown()
    return Verification(solution, len(tasks), statuses["resolved"], statuses, failures)
