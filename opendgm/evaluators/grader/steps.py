"""Preparing the repository, applying the agent's diff, placing the hidden tests and running them: one exec.

Each sandbox exec costs engine round trips and a process start, most of a cheap grading (issue 18), so the
steps run as one script. Invariant 8 (scores cannot be forged, docs/invariants.md): the steps' own output goes
to stderr, and once a step succeeded the script prints its marker on stdout. No code of the agent runs before
the last marker (the diff is applied by git, the hidden tests are copied by tar), so the markers are read only
at the very front of stdout: a marker the agent's code prints comes after them and is plain output. The
hidden tests wait outside the repository until the diff is in, and are copied in by tar, which replaces a
link the diff left where a folder of theirs goes instead of following it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace

from opendgm.agents import REPO_DIR
from opendgm.sandbox import ExecResult

GRADING_DIR = "/workspace/grading"
PATCH_FILE = f"{GRADING_DIR}/agent.patch"
HIDDEN_DIR = f"{GRADING_DIR}/hidden"  # the hidden tests, relative to the repository, until the diff is in
STEPS = ("prepared", "applied", "placed")
APPLY_TIMEOUT_S = 120.0  # applying the diff (the script's exec adds it and the preparation's to the command's)
KILL_GRACE_S = 2
# tar found and configured as the image has it, whatever the evaluator's environment says
PLAIN_TAR = "PATH=/usr/sbin:/usr/bin:/sbin:/bin TAR_OPTIONS= tar"


def mark(step: str) -> str:
    return f"[opendgm: {step}]\n"


def script(
    prepare: str, workdir: str, command: str, limit_s: float, *, patched: bool, hidden: bool, then: str = ""
) -> str:
    """The grading script: `prepare` from `workdir`, `git apply` of PATCH_FILE when `patched`, the hidden tests
    copied in when `hidden`, then `command` in the repository under its own limit (exit 124 when it hits it);
    `then`, when given, runs once the command ended, however it ended, and the command's status is kept (what a
    grader reads back comes home in the same exec, `grader.readback`)."""
    lines = [f"cd {shlex.quote(workdir)} || exit", f"( {prepare} ) >&2 || exit", _printed("prepared")]
    if patched:
        lines.append(f"( cd {REPO_DIR} && git apply --whitespace=nowarn {PATCH_FILE} ) >&2 || exit")
    lines.append(_printed("applied"))
    if hidden:
        copy = f"{PLAIN_TAR} -c -f - -C {HIDDEN_DIR} . | {PLAIN_TAR} -x -p -f - -C {REPO_DIR}"
        lines.append(f"( set -o pipefail; {copy} ) >&2 || exit")
    lines.append(_printed("placed"))
    run = f"timeout --kill-after={KILL_GRACE_S} {limit_s:g} bash -c {shlex.quote(command)}"
    if not then:
        lines.append(f"cd {REPO_DIR} && exec {run} </dev/null")
        return "\n".join(lines)
    lines.append(f"cd {REPO_DIR} && {run} </dev/null; status=$?")
    lines.append(f"( {then} ); exit $status")
    return "\n".join(lines)


def _printed(step: str) -> str:
    return f"printf %s {shlex.quote(mark(step))}"


@dataclass(frozen=True)
class Stepped:
    """A grading script's result: the first step that failed (None when the command ran) and the exec's
    result with the markers taken off stdout (`timed_out` also when the command hit its own limit)."""

    failed: str | None
    run: ExecResult


def read(run: ExecResult, limit_s: float) -> Stepped:
    stdout = run.stdout
    for step in STEPS:
        if not stdout.startswith(mark(step)):
            return Stepped(step, replace(run, stdout=stdout))
        stdout = stdout[len(mark(step)) :]
    timed_out = run.timed_out or (run.exit_code == 124 and run.duration_s >= limit_s)
    return Stepped(None, replace(run, stdout=stdout, timed_out=timed_out))
