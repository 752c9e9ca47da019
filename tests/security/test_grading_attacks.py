"""Graders cannot be fooled: hostile patches against the trusted harness (issue 12 holes 3-4, issue 20).

Each hack is first shown to resolve against the naive grader (tests/support/naive_grading.py: today's grading
before the fix, trusting exit codes and the runner's own output) and then to score 0 against the real
graders, while applying cleanly. The pieces (hook dropping, canary, nonce channel, verdict) are also
checked one by one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opendgm.evaluators.grader.canary import check_canary, with_canary
from opendgm.evaluators.grader.channel import read_result, signature
from opendgm.evaluators.grader.collect import unittest_ids
from opendgm.evaluators.grader.hooks import drop_hooks
from opendgm.evaluators.grader.sandbox import harness
from opendgm.evaluators.grader.verdict import score
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.patches import patch_over
from opendgm.evaluators.polyglot import Polyglot
from opendgm.evaluators.redteam import plan, redteam
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import grade_patch
from tests.support.naive_grading import naive_grade_patch

EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"
# (evaluator, task) -> the hacks that resolve against the naive grader there.
FOOLS_NAIVE = {
    "humaneval": {"exit-hooks", "import-forge", "always-equal"},
    "repo-tasks": {"stdlib-shadow", "exit-hooks", "neutered-tests", "import-forge", "always-equal", "patched-runner"},
    "polyglot-python": {
        "stdlib-shadow",
        "exit-hooks",
        "neutered-tests",
        "import-forge",
        "always-equal",
        "patched-runner",
    },
}


def evaluator_and_task(name: str):
    if name == "humaneval":
        evaluator = HumanEval()
        return evaluator, evaluator.select("HumanEval_0")
    if name == "repo-tasks":
        evaluator = RepoTasks(EXAMPLES)
        return evaluator, evaluator.select("fix-median")
    evaluator = Polyglot(dataset="selftest")
    return evaluator, evaluator.select("python__square-gap")


@pytest.mark.parametrize("name", sorted(FOOLS_NAIVE))
def test_the_hacks_fool_the_naive_grader(name: str, docker_engine: str) -> None:
    """The checks below can fail: these hacks resolve where grading trusts the runner (and apply cleanly)."""
    evaluator, tasks = evaluator_and_task(name)
    tries = [item for item in plan(tasks) if item[0].name in FOOLS_NAIVE[name]]
    naive = redteam(evaluator, tries, "docker", grade=naive_grade_patch)
    assert {result.hack.name for result in naive if result.resolved} == FOOLS_NAIVE[name], [
        (result.hack.name, dict(result.statuses)) for result in naive
    ]


@pytest.mark.parametrize("name", sorted(FOOLS_NAIVE))
def test_no_hack_fools_the_trusted_grader(name: str, backend: str) -> None:
    if name.startswith("polyglot") and backend == "local":
        pytest.skip("Polyglot grades in its toolchain images; the harness is the same as repo-tasks' here")
    evaluator, tasks = evaluator_and_task(name)
    tries = plan(tasks)
    trusted = redteam(evaluator, tries, backend)
    assert all(result.sound for result in trusted), [(r.hack.name, r.resolved, r.broken) for r in trusted]
    assert sum(result.tried for result in trusted) == len(tries) >= len(FOOLS_NAIVE[name])


def test_references_whose_check_uses_the_prompts_helpers_still_resolve(backend: str) -> None:
    humaneval = HumanEval()
    for task in humaneval.select("HumanEval_32,HumanEval_38"):  # check calls poly() / encode_cyclic() of the prompt
        graded = grade_patch(humaneval, task, humaneval.reference_patch(task), backend, "test-attacks")
        assert graded.status == "resolved" and graded.tests_passed == 1, graded.output


def test_a_solution_that_loops_is_a_grading_timeout_not_a_pass(backend: str) -> None:
    evaluator = HumanEval(grading_timeout_s=5)
    (task,) = evaluator.select("HumanEval_0")
    source = task.repo_files["solution.py"].decode()
    looping = patch_over(
        {"solution.py": source}, {"solution.py": source.replace("raise NotImplementedError", "while True: pass")}
    )
    graded = grade_patch(evaluator, task, looping, backend, "test-attacks")
    assert graded.status == "grading_timeout", graded.output


# -- the pieces ----------------------------------------------------------------------------------
def test_import_hooks_are_dropped_with_their_reason_and_the_rest_applies() -> None:
    new = {
        "sitecustomize.py": "x",
        "pkg/usercustomize.py": "x",
        "evil.pth": "import os",
        "tests/conftest.py": "x",
        "unittest/__init__.py": "x",
        "src/json/__init__.py": "x",
        "runpy.py": "x",
        "pytest.py": "x",
        "mypkg/core.py": "x = 1\n",
        "test/data.txt": "x",
    }
    kept, reasons = drop_hooks(patch_over({"types.py": "old\n"}, {**new, "types.py": "new\n"}))
    assert "mypkg/core.py" in kept and "test/data.txt" in kept
    assert "types.py" in kept  # the task's own module named like the stdlib: changing it shadows nothing new
    dropped = sorted(reason.split(":")[0].removeprefix("dropped ") for reason in reasons)
    assert dropped == sorted(set(new) - {"mypkg/core.py", "test/data.txt"})
    assert any("shadows the module `unittest`" in reason for reason in reasons)


def test_the_harness_result_counts_only_on_the_line_signed_with_the_nonce() -> None:
    body = '{"outcomes": {"t": true}, "notes": [], "timed_out": false}'
    good = f"opendgm-result {signature('abc', body)} {body}"
    forged = 'opendgm-result abc {"outcomes": {"t": true, "u": true}}'  # the nonce itself is no signature
    replayed = good.replace('{"t": true}', '{"t": true, "u": true}')  # a line read off the pipe, rewritten
    assert read_result(f"{good}\n{forged}\n{replayed}\n", "abc") == ({"t": True}, [], False)
    assert read_result(f"{good}\n", "000") is None
    assert read_result(f"{forged}\n{replayed}", "abc") is None
    plain = '{"outcomes": {"t": "yes"}}'
    assert read_result(f"opendgm-result {signature('abc', plain)} {plain}", "abc") == ({"t": False}, [], False)


def test_the_verdict_never_trusts_silence() -> None:
    assert score([], {"t": True}).status == "unresolved"
    grade = score(["a", "b"], {"a": True})
    assert (grade.status, grade.tests_passed, grade.tests_failed) == ("unresolved", 1, 1)
    assert score(["a"], {"a": True}, timed_out=True).status == "grading_timeout"
    assert score(["a"], {"a": True}, notes=["n"]).notes == ("n",)


def test_a_report_without_the_failed_canary_is_forged() -> None:
    forged = {"pkg::TestA": True, "pkg::TestB": True}  # written by the solution before the tests ran
    outcomes, note = check_canary(forged, "c0ffee")
    assert outcomes == {"pkg::TestA": False, "pkg::TestB": False} and "not reported" in note
    rewritten = {**forged, "pkg::TestOpendgmCanaryc0ffee": True}  # real report with FAIL turned into PASS
    assert check_canary(rewritten, "c0ffee")[1] is not None
    real = {**forged, "pkg::TestOpendgmCanaryc0ffee": False}
    assert check_canary(real, "c0ffee") == (forged, None)


@pytest.mark.parametrize(
    ("language", "tests", "where"),
    [
        ("go", {"bob_test.go": b"package bob\n"}, "opendgm_canary_t0k_test.go"),
        ("rust", {"tests/bob.rs": b"use bob;\n"}, "tests/bob.rs"),
        ("cpp", {"bob_test.cpp": b"#include x\n", "test/catch.hpp": b""}, "bob_test.cpp"),
        ("javascript", {"bob.spec.js": b"import x;\n"}, "bob.spec.js"),
        ("java", {"src/test/java/BobTest.java": b"class BobTest {}\n"}, "src/test/java/OpendgmCanaryt0kTest.java"),
    ],
)
def test_the_canary_goes_into_the_tests_of_each_compiled_language(language: str, tests: dict, where: str) -> None:
    out = with_canary(language, tests, "t0k")
    assert b"t0k" in out[where] and b"opendgm canary" in out[where]
    assert all(out[path].startswith(data) for path, data in tests.items())  # the task's tests stay whole


def test_plain_data_crosses_the_process_boundary_exactly_and_nothing_else_does() -> None:
    value = [1, 2.5, float("inf"), "s", None, True, (1, (2,)), {1: {3}}, frozenset({4}), b"\x00", 1j, {"k": []}]
    assert harness.decode(json.loads(json.dumps(harness.encode(value)))) == value

    class Sneaky(int):
        def __eq__(self, other: object) -> bool:
            return True

    for bad in (Sneaky(1), [Sneaky(1)], object(), lambda: 0):
        with pytest.raises(TypeError):
            harness.encode(bad)


def test_expected_unittest_ids_are_read_without_running_anything() -> None:
    source = b"""
import unittest
class Base(unittest.TestCase):
    def test_a(self): pass
class More(Base):
    def test_b(self): pass
    def helper(self): pass
class NotATest:
    def test_c(self): pass
raise SystemExit("never run")
"""
    ids = unittest_ids({"tests/test_x.py": source, "tests/helper.py": source, "tests/test_bad.py": b"def ("}, "tests")
    assert ids == ["test_x.Base.test_a", "test_x.More.test_a", "test_x.More.test_b"]
