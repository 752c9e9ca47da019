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

import functools
import hashlib
import hmac
import json
import marshal
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.util import MAGIC_NUMBER

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


HARNESS = f"{HARNESS_DIR}/harness.py"
# Starts the harness from the bytecode the host compiled when the sandbox's Python reads that bytecode (the same
# magic number), else from its source: compiling the harness's ~1200 lines is a tenth of a grading's start-up.
# Both files are put in with the nonce, before anything of the agent's runs in the sandbox. The .pyc is read once,
# by the harness's first process; `call` forks its second one, `unittest` starts its own from harness.py before
# the tests import anything (its guard allows no launcher frame below the runner): what the agent's code may
# write there later is never run.
LAUNCHER = (
    "import marshal, _frozen_importlib_external as bootstrap\n"
    f"__file__ = {HARNESS!r}\n"
    "with open(__file__ + 'c', 'rb') as handle:\n"
    "    compiled = handle.read()\n"
    "if compiled[:4] == bootstrap.MAGIC_NUMBER:\n"
    "    compiled = marshal.loads(compiled[16:])\n"
    "else:\n"
    "    with open(__file__, 'rb') as handle:\n"
    "        compiled = compile(handle.read(), __file__, 'exec', dont_inherit=True)\n"
    "del marshal, bootstrap, handle\n"
    "exec(compiled)\n"
)


def harness_source() -> bytes:
    return (resources.files("opendgm.evaluators.grader") / "sandbox" / "harness.py").read_bytes()


@functools.cache
def harness_bytecode() -> bytes:
    """harness.py compiled by this interpreter, as a .pyc (magic number, 12 bytes unused here, the code)."""
    code = compile(harness_source(), HARNESS, "exec", dont_inherit=True)
    return MAGIC_NUMBER + bytes(12) + marshal.dumps(code)


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
    """`harness.py ARGS` (from its bytecode, `LAUNCHER`) with its own deadline, `files` beside it and a nonce drawn
    for this run only."""
    nonce = secrets.token_hex(16)
    command = " ".join(shlex.quote(arg) for arg in ["python3", "-I", "-S", "-c", LAUNCHER, *args])
    placed: dict[str, bytes | str] = {**(files or {}), "harness.py": harness_source()}
    placed.update({"harness.pyc": harness_bytecode(), "nonce": nonce})
    return HarnessJob(placed, f"{command} --timeout {timeout_s:g}", nonce)


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
