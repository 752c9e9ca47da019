"""The red-team suite on the rest of the built-in evaluators (SWE-bench's miniature instance, Polyglot
Go) and through the CLI; Python's evaluators are in tests/security/test_grading_attacks.py.

Each hack that fools the naive grader (tests/support/naive_grading.py) must resolve nothing against the real one,
and every hack must apply cleanly (a patch_failed proves nothing).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendgm.agents.contract import REPO_DIR
from opendgm.cli import app
from opendgm.evaluators.patches import patch_over
from opendgm.evaluators.polyglot import Polyglot, exercise_files
from opendgm.evaluators.polyglot_grading import partial_files, patch_from
from opendgm.evaluators.polyglot_images import build_language_image
from opendgm.evaluators.polyglot_languages import LANGUAGES
from opendgm.evaluators.redteam import plan, redteam
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.swebench import SWEBench, with_canary
from opendgm.sandbox import SandboxSpec, open_sandbox
from tests.evaluators.test_swebench import FIXTURE, dataset  # noqa: F401 - the module's fixture: the miniature instance and its image
from tests.support.naive_grading import naive_grade_patch


def fooled_and_sound(evaluator, tasks, backend: str = "docker", files=None) -> tuple[set[str], list]:
    tries = plan(tasks, files=files)
    naive = redteam(evaluator, tries, backend, grade=naive_grade_patch)
    trusted = redteam(evaluator, tries, backend)
    unsound = [(result.hack.name, result.resolved, result.broken) for result in trusted if not result.sound]
    return {result.hack.name for result in naive if result.resolved}, unsound


def mini_files(_task: object) -> dict[str, bytes]:
    """The instance's repository as the agent sees it (SWE-bench's is in the image, not on the task)."""
    base = FIXTURE / "base"
    return {path.relative_to(base).as_posix(): path.read_bytes() for path in base.rglob("*.py")}


def test_swebench_mini_resists_every_hack(dataset: Path) -> None:  # noqa: F811 - the imported fixture
    evaluator = SWEBench(dataset)
    fooled, unsound = fooled_and_sound(evaluator, evaluator.select("all"), files=mini_files)
    # PYTHONPATH puts the repository first; the log parser reads whatever the test process prints
    assert (fooled, unsound) == ({"stdlib-shadow", "import-hooks", "exit-hooks", "import-forge"}, [])


@pytest.mark.slow
def test_polyglot_go_resists_every_hack(docker_engine: str) -> None:
    build_language_image(LANGUAGES["go"], say=lambda _message: None)
    evaluator = Polyglot(dataset="selftest")
    fooled, unsound = fooled_and_sound(evaluator, evaluator.select("go__square-gap"))
    assert fooled == {"neutered-tests", "go-init-exit"}
    assert unsound == []


def test_the_redteam_command_reports_zero_resolved(docker_engine: str) -> None:
    done = CliRunner().invoke(
        app, ["evaluators", "redteam", "repo-tasks", "-o", "path=examples/repo-tasks", "--subset", "fix-median"],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "repo-tasks: 0/7 hacks resolved" in done.output and "stdlib-shadow: 0/1 resolved" in done.output


# The solution's own code turns the runner's report around from inside the test binary: its init() runs
# the same test binary again, reads that run's output, turns every FAIL into PASS, prints it and exits 0,
# before any test of its own runs. The tests of a partly wrong solution then all "pass" in
# `go test -json` (today's main resolved it); the canary, which must fail, is turned too, and gives it away.
GO_REWRITER = """package squaregap

import (
\t"os"
\t"os/exec"
\t"strings"
)

func init() {
\tif os.Getenv("REWRITTEN") != "" {
\t\treturn
\t}
\trun := exec.Command(os.Args[0], os.Args[1:]...)
\trun.Env = append(os.Environ(), "REWRITTEN=1")
\tout, _ := run.Output()
\tfor _, line := range strings.Split(strings.TrimRight(string(out), "\\n"), "\\n") {
\t\tif strings.TrimSpace(line) == "FAIL" {
\t\t\tline = "PASS"
\t\t}
\t\tos.Stdout.WriteString(strings.ReplaceAll(line, "--- FAIL", "--- PASS") + "\\n")
\t}
\tos.Exit(0)
}
"""


@pytest.mark.slow
def test_a_go_report_rewritten_in_process_is_caught_by_the_canary(docker_engine: str) -> None:
    build_language_image(LANGUAGES["go"], say=lambda _message: None)
    evaluator = Polyglot(dataset="selftest")
    (task,) = evaluator.select("go__square-gap")
    folder = evaluator._exercises()[task.id]
    files = exercise_files(folder)
    hack = patch_from(folder, {**partial_files(folder, files), "zz_report.go": GO_REWRITER})
    graded = grade_patch(evaluator, task, hack, "docker", "test-redteam")
    assert graded.status == "unresolved" and graded.tests_passed == 0, graded.output
    assert "canary test was reported as passed" in graded.output


def test_swebench_grades_with_the_instances_pytest_tables_in_pyproject(dataset: Path) -> None:  # noqa: F811
    evaluator = SWEBench(dataset)
    (task,) = evaluator.select("all")
    hostile = '[project]\nname = "roman"\n\n[tool.pytest.ini_options]\naddopts = "-p forged_plugin"\n'
    patch = evaluator.reference_patch(task) + patch_over({}, {"pyproject.toml": hostile})
    with open_sandbox(SandboxSpec(image=task.image, campaign="test-redteam"), "docker") as sandbox:
        graded = evaluator.grade(task, patch, sandbox)
        graded_with = tomllib.loads(sandbox.get_file(f"{REPO_DIR}/pyproject.toml").decode())
    assert graded_with == {"project": {"name": "roman"}}  # the agent's other changes stay
    assert graded.status == "resolved" and any("[tool.pytest]" in note for note in graded.notes), graded.output


def test_the_swebench_canary_goes_into_a_test_file_the_test_patch_leaves_before_the_tests_run() -> None:
    removed = "diff --git a/tests/test_old.py b/tests/test_old.py\ndeleted file mode 100644\n@@ -1 +0,0 @@\n-x\n"
    kept = "diff --git a/tests/test_new.py b/tests/test_new.py\n@@ -1 +1 @@\n-x\n+y\n"
    script = "git apply -\n: '>>>>> Start Test Output'\npytest tests\n"
    canaried = with_canary(script, {"test_patch": removed + kept}, "ab12")
    assert canaried is not None
    before, after = canaried.split(": '>>>>> Start Test Output'")
    assert f"cat >> {REPO_DIR}/tests/test_new.py" in before and "OpendgmCanaryab12" in before and "pytest" in after
    assert with_canary("pytest tests\n", {"test_patch": kept}, "ab12") is None  # no marker: read as the harness does
    assert with_canary(script, {"test_patch": removed}, "ab12") is None
