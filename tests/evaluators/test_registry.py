"""A third-party evaluator, installed from its own package, is listed and usable with no change to opendgm."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opendgm.evaluators import UnknownEvaluator, load
from opendgm.evaluators.humaneval import HumanEval

PACKAGE = Path(__file__).parents[1] / "fixtures" / "thirdparty_evaluator"


@pytest.fixture(scope="module")
def installed_elsewhere(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The package pip-installed into its own directory; the environment that makes it visible."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PACKAGE)],
        check=True, cwd=build, env={**os.environ, "PIP_NO_INDEX": "1"}, timeout=300,
    )  # fmt: skip
    return {**os.environ, "PYTHONPATH": str(target), "COLUMNS": "200"}


def opendgm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "opendgm.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_third_party_evaluator_is_listed(installed_elsewhere: dict[str, str]) -> None:
    listing = opendgm(installed_elsewhere, "evaluators", "list")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if "tiny-bench" in line)
    assert "opendgm-tiny-bench" in row and "tiny-bench/1" in row and "small (1)" in row
    without = opendgm({**os.environ, "COLUMNS": "200"}, "evaluators", "list")
    assert "tiny-bench" not in without.stdout, "it must come from the installed package, not from opendgm"


def test_third_party_evaluator_grades_in_a_sandbox(installed_elsewhere: dict[str, str], backend: str) -> None:
    done = opendgm(installed_elsewhere, "evaluators", "verify", "tiny-bench", "--subset", "all", "--backend", backend)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reference: 2/2 resolved" in done.stdout and "stub: 0/2 resolved" in done.stdout
    assert "grades by its test command's exit code" in done.stdout  # no per-test grading declared


def test_third_party_evaluators_run_the_red_team_suite(installed_elsewhere: dict[str, str]) -> None:
    done = opendgm(installed_elsewhere, "evaluators", "redteam", "tiny-bench", "--subset", "small", "--backend=local")
    assert done.returncode == 1, done.stdout + done.stderr  # its exit-code grader is fooled, and the suite says so
    assert "exit-hooks: 1/1 resolved" in done.stdout


def test_unknown_evaluator_names_the_installed_ones() -> None:
    with pytest.raises(UnknownEvaluator, match=r"unknown evaluator 'nope'; installed: .*humaneval"):
        load("nope")
    assert isinstance(load("humaneval"), HumanEval)


def test_options_are_checked_against_the_declaration_or_else_the_signature() -> None:
    from opendgm.evaluators.registry import BadOptions, checked_options
    from opendgm.evaluators.repo_tasks import RepoTasks

    assert checked_options("humaneval", HumanEval, {"agent_timeout_s": "3"}) == {"agent_timeout_s": 3.0}
    with pytest.raises(BadOptions, match=r"grading_timeout_s: Input should be greater than 0"):
        checked_options("humaneval", HumanEval, {"grading_timeout_s": "-1"})
    with pytest.raises(BadOptions, match=r"path: Field required; pth: Extra inputs.*\(it takes: path, protected\)"):
        checked_options("repo-tasks", RepoTasks, {"pth": "x"})

    def undeclared(path: str, depth: int = 1) -> None: ...

    assert checked_options("third", undeclared, {"path": "x"}) == {"path": "x"}
    with pytest.raises(BadOptions, match="unexpected keyword argument 'colour'"):
        checked_options("third", undeclared, {"colour": "red"})
    assert checked_options("open", lambda **anything: None, {"colour": "red"}) == {"colour": "red"}
