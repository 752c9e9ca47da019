"""Running the sandbox harness and reading its result: one line signed with a nonce the tests never see.

Invariant 8 (scores cannot be forged, docs/invariants.md).

The nonce goes into a file the harness reads and deletes before any agent code runs; the harness's
result is trusted only on a line whose HMAC under the nonce is right. The nonce itself is never printed:
on Docker a process of the sandbox user can open the exec's stdout pipe through /proc and read the
harness's line off it, so a line that merely carried the nonce could be read and rewritten; a signed one
can only be dropped. Output without a valid line (the harness was killed, or something else printed)
means no test was reported: every expected test counts as failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

from opendgm.sandbox import ExecResult

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


@dataclass(frozen=True)
class HarnessJob:
    """One harness run to start: the files for `HARNESS_DIR` (the nonce among them) and the command, run in
    the repository; `result` reads what it reported."""

    files: dict[str, bytes | str]
    command: str
    nonce: str

    def result(self, run: ExecResult) -> HarnessRun:
        parsed = read_result(run.stdout, self.nonce)
        output = run.stdout + run.stderr
        if parsed is None:
            note = "the harness reported no result" + (" (killed at the time limit)" if run.timed_out else "")
            return HarnessRun({}, [note], run.timed_out, run.exit_code, output)
        outcomes, notes, timed_out = parsed
        return HarnessRun(outcomes, notes, timed_out or run.timed_out, run.exit_code, output)


def harness_job(args: list[str], timeout_s: float, files: Mapping[str, bytes] | None = None) -> HarnessJob:
    """`harness.py ARGS` with its own deadline, `files` beside it and a nonce drawn for this run only."""
    nonce = secrets.token_hex(16)
    command = " ".join(shlex.quote(arg) for arg in ["python3", "-I", "-S", f"{HARNESS_DIR}/harness.py", *args])
    return HarnessJob(
        {**(files or {}), "harness.py": harness_source(), "nonce": nonce}, f"{command} --timeout {timeout_s:g}", nonce
    )


def signature(nonce: str, body: str) -> str:
    """The HMAC-SHA256 of a result line's JSON under the run's nonce (harness.py computes the same)."""
    return hmac.new(nonce.encode(), body.encode(), hashlib.sha256).hexdigest()


def read_result(stdout: str, nonce: str) -> tuple[dict[str, bool], list[str], bool] | None:
    """(outcomes, notes, timed_out) from the last line signed with `nonce`, or None when there is none."""
    mark = f"{RESULT_MARK} "
    for line in reversed(stdout.splitlines()):
        signed, _, body = line.removeprefix(mark).partition(" ")
        if not line.startswith(mark) or not hmac.compare_digest(signed.encode(), signature(nonce, body).encode()):
            continue
        try:
            result = json.loads(body)
            outcomes = {str(test): passed is True for test, passed in dict(result["outcomes"]).items()}
            return outcomes, [str(note) for note in result.get("notes", [])], bool(result.get("timed_out"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
    return None
