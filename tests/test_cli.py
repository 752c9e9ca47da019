"""The `opendgm` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from opendgm.cli import app
from opendgm.sandbox.containment import CASES

runner = CliRunner()


def test_sandbox_check_prints_a_verdict_per_case(local_isolation: None) -> None:
    result = runner.invoke(app, ["sandbox", "check", "--backend", "local"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("│ contained") == len(CASES)
    assert "NOT contained" not in result.output


def test_unknown_backend_is_a_clear_usage_error() -> None:
    result = runner.invoke(app, ["sandbox", "check", "--backend", "kubernetes"])
    assert result.exit_code == 2
    assert "unknown backend 'kubernetes'" in result.output


def test_user_errors_print_one_line_not_a_traceback(docker_engine: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "opendgm.cli", "sandbox", "check", "--backend=docker", "--image=nope:never"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "error:" in done.stderr and "opendgm sandbox build" in done.stderr, output
    assert "Traceback" not in output, output


def test_selfcheck_builds_and_checks(backend: str) -> None:
    result = runner.invoke(app, ["selfcheck", "--backend", backend], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("│ contained") == len(CASES)
    if backend == "docker":
        assert "opendgm-runtime:latest" in result.output
