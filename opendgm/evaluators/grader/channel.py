"""Running the sandbox harness and reading its result: one line keyed by a nonce the tests never see.

Invariant 8 (scores cannot be forged, docs/invariants.md).

The nonce goes into a file the harness reads and deletes before any agent code runs; the harness's
result is trusted only on the line that carries it. Output without that line (the harness was killed,
or something else printed) means no test was reported: every expected test counts as failed.
"""

from __future__ import annotations

import json
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

from opendgm.agents import REPO_DIR
from opendgm.sandbox import Sandbox

HARNESS_DIR = "/workspace/grading/harness"
RESULT_MARK = "opendgm-result"
MARGIN_S = 10.0  # the sandbox's own limit is this much longer, so the harness reports a timeout itself


@dataclass(frozen=True)
class HarnessRun:
    """What the harness reported: per-test outcomes, notes, whether it hit its deadline, and the log."""

    outcomes: dict[str, bool]
    notes: list[str] = field(default_factory=list)
    timed_out: bool = False
    exit_code: int = 0
    output: str = ""


def harness_source() -> bytes:
    return (resources.files("opendgm.evaluators.grader") / "sandbox" / "harness.py").read_bytes()


def run_harness(
    sandbox: Sandbox, args: list[str], timeout_s: float, files: Mapping[str, bytes] | None = None
) -> HarnessRun:
    """Run `harness.py ARGS` in the repository with its own deadline (`files` beside it); what it reported."""
    nonce = secrets.token_hex(16)
    sandbox.put_files(HARNESS_DIR, {**(files or {}), "harness.py": harness_source(), "nonce": nonce})
    command = " ".join(shlex.quote(arg) for arg in ["python3", "-I", "-S", f"{HARNESS_DIR}/harness.py", *args])
    run = sandbox.exec(f"cd {REPO_DIR} && {command} --timeout {timeout_s:g}", timeout=timeout_s + MARGIN_S)
    parsed = read_result(run.stdout, nonce)
    output = run.stdout + run.stderr
    if parsed is None:
        note = "the harness reported no result" + (" (killed at the time limit)" if run.timed_out else "")
        return HarnessRun({}, [note], run.timed_out, run.exit_code, output)
    outcomes, notes, timed_out = parsed
    return HarnessRun(outcomes, notes, timed_out or run.timed_out, run.exit_code, output)


def read_result(stdout: str, nonce: str) -> tuple[dict[str, bool], list[str], bool] | None:
    """(outcomes, notes, timed_out) from the line that carries `nonce`, or None when there is none."""
    mark = f"{RESULT_MARK} {nonce} "
    for line in reversed(stdout.splitlines()):
        if not line.startswith(mark):
            continue
        try:
            result = json.loads(line[len(mark) :])
            outcomes = {str(test): passed is True for test, passed in dict(result["outcomes"]).items()}
            return outcomes, [str(note) for note in result.get("notes", [])], bool(result.get("timed_out"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
    return None
