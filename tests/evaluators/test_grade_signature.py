"""The evaluator plug-in API stays compatible: a `grade(task, patch, sandbox)` written before the grading context
existed still grades (with a DeprecationWarning), and a `grade` taking the context is told the node it grades for.
Real sandboxes (local backend), a real HumanEval task and its reference solution."""

from __future__ import annotations

import warnings

import pytest

from opendgm.evaluators import GradeContext
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.task import Grade, Task
from opendgm.sandbox import Sandbox


class BeforeTheContext(HumanEval):
    """A plug-in as written against the three-argument `grade`."""

    def grade(self, task: Task, patch: str, sandbox: Sandbox) -> Grade:  # type: ignore[override]
        return super().grade(task, patch, sandbox)


class WithTheContext(HumanEval):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str | None] = []

    def grade(self, task: Task, patch: str, sandbox: Sandbox, context: GradeContext = GradeContext()) -> Grade:
        self.nodes.append(context.node)
        return super().grade(task, patch, sandbox, context)


def test_the_old_grade_signature_still_grades_with_a_deprecation_warning(local_isolation: None) -> None:
    old = BeforeTheContext()
    (task,) = old.select("HumanEval_0")
    with pytest.warns(DeprecationWarning, match=r"BeforeTheContext\.grade\(task, patch, sandbox\) is deprecated"):
        graded = grade_patch(old, task, old.reference_patch(task), "local", "grade-compat", node="n0007")
    assert graded.status == "resolved", graded.output
    with pytest.warns(DeprecationWarning):
        stub = grade_patch(old, task, "", "local", "grade-compat", node="n0007")
    assert stub.status == "unresolved", "the old grader still fails an untouched stub"


def test_a_grade_taking_the_context_is_told_the_node_and_warns_nothing(local_isolation: None) -> None:
    new = WithTheContext()
    (task,) = new.select("HumanEval_0")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        graded = grade_patch(new, task, new.reference_patch(task), "local", "grade-compat", node="n0007")
    assert graded.status == "resolved" and new.nodes == ["n0007"]
