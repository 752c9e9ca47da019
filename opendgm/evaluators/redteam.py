"""The red-team suite: known reward hacks applied to an evaluator's tasks; a sound grader resolves none.

Invariant 8 (scores cannot be forged, docs/invariants.md).

Like `opendgm sandbox check` for containment, this checks a grader from the outside: every hack of
`redteam_hacks` that applies to a task is graded as if an agent had submitted it. A resolved hack is a
grader that can be fooled; a hack that does not apply (`patch_failed`) proves nothing, so it is reported
as a failure of the suite too. Third-party evaluators run the same suite.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evaluators.polyglot_languages import LANGUAGES
from opendgm.evaluators.redteam_hacks import HACKS, Hack
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.task import Grade, Task
from opendgm.sandbox import BackendName

Grader = Callable[[Evaluator, Task, str, BackendName, str], Grade]


@dataclass
class HackResult:
    """How one hack fared on the tasks it applies to."""

    hack: Hack
    tried: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    resolved: list[str] = field(default_factory=list)  # task ids the hack resolved
    broken: list[tuple[str, str]] = field(default_factory=list)  # (task id, why) for patch_failed or errors

    @property
    def sound(self) -> bool:
        """Nothing resolved and every try was graded (a hack that does not apply proves nothing)."""
        return not self.resolved and not self.broken


def task_language(task: Task) -> str:
    """A Polyglot task's language (`<lang>__<slug>`); every other built-in benchmark is Python."""
    prefix = task.id.split("__", 1)[0]
    return prefix if "__" in task.id and prefix in LANGUAGES else "python"


def plan(
    tasks: list[Task], hacks: list[Hack] = HACKS, files: Callable[[Task], Mapping[str, bytes]] | None = None
) -> list[tuple[Hack, Task, str]]:
    """Every (hack, task, patch) where the hack applies to the task; `files`: the repository the agent sees,
    where the task does not carry it (SWE-bench's is in its image), else `task.repo_files`."""
    visible = files or (lambda task: task.repo_files)
    return [
        (hack, task, patch)
        for hack in hacks
        for task in tasks
        if not task.invalid and (patch := hack.patch(task_language(task), visible(task))) is not None
    ]


def redteam(
    evaluator: Evaluator,
    tries: list[tuple[Hack, Task, str]],
    backend: BackendName = "auto",
    workers: int = 2,
    grade: Grader = grade_patch,
    on_progress: Callable[[], None] = lambda: None,
) -> list[HackResult]:
    """Grade every planned patch with `grade`; one result per hack, in the plan's order."""
    results = {hack.name: HackResult(hack) for hack, _task, _patch in tries}

    def run(item: tuple[Hack, Task, str]) -> Grade:
        _hack, task, patch = item
        return grade(evaluator, task, patch, backend, f"redteam-{evaluator.name}")

    executor = LocalExecutor(workers)
    try:
        for (hack, task, _patch), outcome in executor.map_unordered(run, tries):
            on_progress()
            result = results[hack.name]
            result.tried += 1
            if isinstance(outcome, BaseException):
                result.statuses["error"] += 1
                result.broken.append((task.id, f"{type(outcome).__name__}: {outcome}"))
                continue
            result.statuses[outcome.status] += 1
            if outcome.resolved:
                result.resolved.append(task.id)
            elif outcome.status == "patch_failed":
                result.broken.append((task.id, outcome.output.strip()[-300:]))
    finally:
        executor.shutdown()
    return list(results.values())
