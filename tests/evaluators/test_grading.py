"""Graders are real: reference solutions resolve, stubs and tampering do not, in fresh sandboxes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opendgm.evaluators.humaneval import HumanEval, unified_diff
from opendgm.evaluators.patches import drop_protected
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.verify import verify

EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"
MEDIAN_FIX = unified_diff(
    "stats/__init__.py",
    (EXAMPLES / "fix-median/repo/stats/__init__.py").read_text(),
    (EXAMPLES / "fix-median/repo/stats/__init__.py")
    .read_text()
    .replace(
        "    return ordered[len(ordered) // 2]\n",
        "    middle = len(ordered) // 2\n"
        "    if len(ordered) % 2:\n"
        "        return ordered[middle]\n"
        "    return (ordered[middle - 1] + ordered[middle]) / 2\n",
    ),
)


def test_humaneval_reference_resolves_and_stub_does_not(docker_engine: str) -> None:
    evaluator = HumanEval()
    tasks = evaluator.select("small")
    reference = verify(evaluator, tasks, "reference", "docker")
    stub = verify(evaluator, tasks, "stub", "docker")
    assert (reference.resolved, reference.total, reference.failures) == (10, 10, [])
    assert (stub.resolved, stub.statuses["unresolved"], stub.failures) == (0, 10, [])


def test_humaneval_tasks_hide_their_tests() -> None:
    tasks = HumanEval().tasks()
    assert len(tasks) == 164
    for task in tasks:
        assert set(task.repo_files) == {"solution.py"}
        assert b"NotImplementedError" in task.repo_files["solution.py"]
        assert b"def check(candidate)" not in task.repo_files["solution.py"]
        assert b"def check" in task.hidden_tests["test_solution.py"]


def test_repo_task_fix_resolves_and_counts_tests(backend: str) -> None:
    evaluator = RepoTasks(EXAMPLES)
    (task,) = evaluator.select("small")
    fixed = grade_patch(evaluator, task, MEDIAN_FIX, backend, "test-grading")
    assert fixed.resolved and (fixed.tests_passed, fixed.tests_failed) == (3, 0), fixed.output
    untouched = grade_patch(evaluator, task, "", backend, "test-grading")
    assert untouched.status == "unresolved" and untouched.tests_failed == 1


def test_changes_to_hidden_tests_are_dropped_before_grading(docker_engine: str) -> None:
    evaluator = RepoTasks(EXAMPLES)
    (task,) = evaluator.select("small")
    cheat = unified_diff("tests/test_median.py", "", "import unittest\n")  # an empty test suite "passes"
    graded = grade_patch(evaluator, task, cheat, "docker", "test-grading")
    assert graded.status == "unresolved", graded.output


def test_a_patch_that_does_not_apply_is_its_own_status(docker_engine: str) -> None:
    evaluator = RepoTasks(EXAMPLES)
    (task,) = evaluator.select("small")
    graded = grade_patch(evaluator, task, unified_diff("nope.py", "x = 1\n", "x = 2\n"), "docker", "t")
    assert graded.status == "patch_failed"


def test_drop_protected_keeps_other_files() -> None:
    patch = unified_diff("src/a.py", "a\n", "b\n") + unified_diff("tests/test_a.py", "a\n", "b\n")
    kept, dropped = drop_protected(patch, ["tests/*"])
    assert dropped == ["tests/test_a.py"]
    assert "src/a.py" in kept and "tests/test_a.py" not in kept
    assert drop_protected("not a diff", ["*"]) == ("not a diff", [])


def test_malformed_repo_tasks_are_reported_per_task(tmp_path: Path) -> None:
    root = tmp_path / "tasks"
    shutil.copytree(EXAMPLES / "fix-median", root / "good")
    (root / "no-toml" / "repo").mkdir(parents=True)
    (root / "bad-toml").mkdir()
    (root / "bad-toml" / "task.toml").write_text("statement = 'unterminated\n")
    (root / "unknown-key").mkdir()
    (root / "unknown-key" / "task.toml").write_text("statement = 'x'\ntest_command = 'true'\ncolour = 'red'\n")
    (root / "no-repo").mkdir()
    (root / "no-repo" / "task.toml").write_text("statement = 'x'\ntest_command = 'true'\n")
    tasks = {task.id: task for task in RepoTasks(root).tasks()}
    assert tasks["good"].invalid is None
    assert "task.toml" in str(tasks["no-toml"].invalid)
    assert "not valid TOML" in str(tasks["bad-toml"].invalid)
    assert "invalid fields: colour: Extra inputs are not permitted" in str(tasks["unknown-key"].invalid)
    assert "repo" in str(tasks["no-repo"].invalid)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        RepoTasks(tmp_path / "missing")
