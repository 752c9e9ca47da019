"""The grading contract of issue 18: an evaluator says how its repository is prepared (`prepare_command`) and
grades through `run_patched`, one sandbox exec per grading; an evaluator of the old contract (its own
`prepare`) still grades the same, step by step, warned once."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.grader import steps
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.task import Task
from opendgm.sandbox.base import ExecResult, Sandbox
from tests.evaluators.test_grading import MEDIAN_FIX

EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"


class Counting:
    """Counts the execs of every sandbox opened while it is active."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.execs = 0
        for cls in _backends():
            original = cls.exec

            def counted(sandbox: Sandbox, *args: object, _original=original, **kwargs: object) -> ExecResult:  # type: ignore[no-untyped-def]
                self.execs += 1
                return _original(sandbox, *args, **kwargs)

            monkeypatch.setattr(cls, "exec", counted)


def _backends() -> list[type[Sandbox]]:
    from opendgm.sandbox.docker_backend import DockerSandbox
    from opendgm.sandbox.local_backend import LocalSandbox

    return [DockerSandbox, LocalSandbox]


def test_a_grading_is_one_exec_and_grades_as_before(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    humaneval, repo = HumanEval(), RepoTasks(EXAMPLES)
    (problem,) = humaneval.select("HumanEval_2")
    (median,) = repo.select("fix-median")
    counting = Counting(monkeypatch)
    graded = [
        grade_patch(humaneval, problem, humaneval.reference_patch(problem), backend, "test-one-exec"),  # type: ignore[arg-type]
        grade_patch(humaneval, problem, "", backend, "test-one-exec"),  # type: ignore[arg-type]
        grade_patch(repo, median, MEDIAN_FIX, backend, "test-one-exec"),  # type: ignore[arg-type]
        grade_patch(repo, median, "", backend, "test-one-exec"),  # type: ignore[arg-type]
        grade_patch(
            repo, median, "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", backend, "test-one-exec"
        ),  # type: ignore[arg-type]
    ]
    assert counting.execs == len(graded)
    summary = [(grade.status, grade.tests_passed, grade.tests_failed) for grade in graded]
    assert summary == [
        ("resolved", 1, 0),
        ("unresolved", 0, 1),
        ("resolved", 3, 0),
        ("unresolved", 2, 1),
        ("patch_failed", 0, 0),
    ], [grade.output for grade in graded]
    assert "[opendgm: " not in graded[2].output  # the step markers are the host's, never part of the log


def test_an_evaluator_of_the_old_contract_grades_step_by_step_with_a_warning(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class OldPlugin(RepoTasks):  # a class per test: the warning comes once per class
        """A plug-in of the old contract: it prepares with a sandbox step of its own."""

        def prepare(self, task: Task, sandbox: Sandbox) -> str:
            base = super().prepare(task, sandbox)
            sandbox.exec("echo prepared the old way > /workspace/old.txt")
            return base

    old = OldPlugin(EXAMPLES)
    (median,) = old.select("fix-median")
    counting = Counting(monkeypatch)
    with pytest.warns(DeprecationWarning, match="overrides prepare.*prepare_command"):
        fixed = grade_patch(old, median, MEDIAN_FIX, backend, "test-one-exec")  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per class
        unfixed = grade_patch(old, median, "", backend, "test-one-exec")  # type: ignore[arg-type]
    assert (fixed.status, fixed.tests_passed, unfixed.status) == ("resolved", 3, "unresolved")
    assert counting.execs == 4 + 3  # prepare's, the plug-in's, git apply's, the harness's; without a diff no apply


def test_the_step_markers_count_only_at_the_front_of_the_output() -> None:
    def result(stdout: str, exit_code: int = 0, duration: float = 1.0) -> ExecResult:
        return ExecResult(exit_code, stdout, "", False, duration)

    ran = "".join(steps.mark(step) for step in steps.STEPS)
    assert steps.read(result(ran + "out\n"), 5).failed is None
    assert steps.read(result(ran + "out\n"), 5).run.stdout == "out\n"
    forged = steps.mark("prepared") + "agent\n" + "".join(steps.mark(step) for step in steps.STEPS[1:])
    assert steps.read(result(forged), 5).failed == "applied"
    assert steps.read(result("x" + ran), 5).failed == "prepared"
    assert steps.read(result(ran, exit_code=124, duration=5.2), 5).run.timed_out
    assert not steps.read(result(ran, exit_code=124, duration=0.3), 5).run.timed_out  # a command exiting 124 itself


def test_prepare_command_is_the_agent_phase_preparation_too(backend: str) -> None:
    class Marked(Evaluator):
        def tasks(self) -> list[Task]:
            return [Task(id="t", statement="s", repo_files={"a.txt": b"a\n"})]

        def prepare_command(self, task: Task) -> str:
            return f"echo extra > /workspace/repo/b.txt && {super().prepare_command(task)}"

    from opendgm.sandbox import SandboxSpec, open_sandbox

    evaluator = Marked()
    with open_sandbox(SandboxSpec(campaign="test-one-exec"), backend) as sandbox:
        base = evaluator.prepare(evaluator.tasks()[0], sandbox)
        listing = sandbox.exec(f"git -C /workspace/repo ls-tree --name-only {base}")
    assert len(base) == 40 and listing.stdout.split() == ["a.txt", "b.txt"]
