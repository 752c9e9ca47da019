"""Honest hidden test suites, written as upstream projects write them, grade as plain unittest grades them.

A grader that fails honest work corrupts selection as surely as one that passes a forgery. The suites in
`fixtures/honest_suites/tests` use what real suites use: mock.patch as decorator and context manager, patchers
started in setUpClass and never stopped until tearDownClass, patches never undone at all, fixtures at every
level, subTest, skips and expected failures, IsolatedAsyncioTestCase, threads, subprocesses, temporary
files, warnings and logging, locale and time zone changes, gc, sys.path and sys.modules edits, generated
test methods, helpers kept on test classes. Each is graded against a correct and a wrong version of the
library they test (`good`, `bad` beside it), and every test must come out as it does
under `python -m unittest`, but for the differences the harness makes on purpose (KNOWN).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opendgm.evaluators.grader.channel import harness_source
from opendgm.evaluators.patches import patch_over
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import grade_patch
from opendgm.sandbox.factory import BackendName

SUITES = Path(__file__).parent / "fixtures" / "honest_suites"
SOLUTIONS = ("good", "bad")
# What the harness does not run as plain unittest does, on purpose:
# - doctests: their examples live in the docstrings of the code under test (the agent's own, and doctest's
#   runner is not the harness's), so they never count as passed;
# - gc.get_referrers: the object graph leads to the record key, so the walk is refused (that test alone fails).
KNOWN = {"shop.parse_price", "test_gc_weakref.GcTest.test_no_leak_by_referrers"}
PLAIN_RUNNER = r"""
import json, sys, unittest

class Result(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.outcomes = {}
    def addSuccess(self, test):
        self.outcomes.setdefault(test.id(), True)
    def addSubTest(self, test, subtest, error):
        if error is not None:
            self.outcomes[test.id()] = False
    def _failed(self, test, *args):
        self.outcomes[test.id()] = False
    addFailure = addError = addSkip = addExpectedFailure = addUnexpectedSuccess = _failed

result = Result()
unittest.TestLoader().discover("tests", "test*.py", top_level_dir="tests").run(result)
print("PLAIN " + json.dumps(result.outcomes))
"""


def _repo(where: Path, solution: str) -> Path:
    shutil.copytree(SUITES / solution / "shop", where / "shop")
    shutil.copytree(SUITES / "tests", where / "tests")
    return where


def _plain(repo: Path) -> dict[str, bool]:
    """Per-test outcomes of the suites under plain unittest, outside any sandbox (a skip is not a pass)."""
    done = subprocess.run([sys.executable, "-c", PLAIN_RUNNER], cwd=repo, capture_output=True, text=True, timeout=120)
    line = [row for row in done.stdout.splitlines() if row.startswith("PLAIN ")]
    assert line, done.stderr[-2000:]
    return json.loads(line[-1][len("PLAIN ") :])


def _harness(repo: Path, folder: Path) -> dict[str, bool]:
    """Per-test outcomes of the suites under the grading harness, run as the sandbox runs it."""
    folder.mkdir()
    (folder / "harness.py").write_bytes(harness_source())
    (folder / "nonce").write_text("n0nce")
    command = [
        sys.executable,
        "-I",
        "-S",
        str(folder / "harness.py"),
        "unittest",
        "tests",
        "test*.py",
        "--timeout",
        "120",
    ]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=180)
    line = [row for row in done.stdout.splitlines() if row.startswith("opendgm-result ")]
    assert line, done.stdout[-3000:]
    return json.loads(line[-1].split(" ", 2)[2])["outcomes"]


def _passed(outcomes: dict[str, bool]) -> set[str]:
    return {test for test, ok in outcomes.items() if ok and test not in KNOWN}


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_the_harness_grades_honest_suites_as_plain_unittest(solution: str, tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo", solution)
    plain = _plain(repo)
    assert len(plain) >= 60, plain  # the corpus ran
    assert all(plain.values()) is False  # a skip and an expected failure at least
    assert _passed(_harness(repo, tmp_path / "harness")) == _passed(plain)
    if solution == "good":  # the correct library passes every test but skips, expected failures and KNOWN
        assert len(_passed(plain)) >= 60, plain


@pytest.mark.parametrize("solution", SOLUTIONS)
def test_honest_suites_grade_as_plain_unittest_in_a_real_sandbox(
    solution: str, backend: BackendName, tmp_path: Path
) -> None:
    """The whole corpus as one repo-tasks task, graded by the evaluator in a real sandbox: every test plain
    unittest discovers is expected, and as many pass as under plain unittest."""
    plain = _plain(_repo(tmp_path / "plain", solution))
    task_dir = tmp_path / "tasks" / "honest"
    (task_dir / "repo" / "shop").mkdir(parents=True)
    base = "# unsolved\n" + (SUITES / "bad" / "shop" / "__init__.py").read_text()
    (task_dir / "repo" / "shop" / "__init__.py").write_text(base)
    shutil.copytree(SUITES / "tests", task_dir / "tests")
    (task_dir / "task.toml").write_text(
        f'statement = "honest suites"\ngrading_timeout_s = 120\ntests = {json.dumps(sorted(plain))}\n'
    )
    evaluator = RepoTasks(task_dir.parent)
    task = evaluator.select("honest")[0]
    patch = patch_over(
        {"shop/__init__.py": base}, {"shop/__init__.py": (SUITES / solution / "shop" / "__init__.py").read_text()}
    )
    graded = grade_patch(evaluator, task, patch, backend, "test-honest-suites")
    expected = len(_passed(plain))
    assert graded.tests_passed == expected, (graded.tests_passed, expected, graded.output[-4000:])
