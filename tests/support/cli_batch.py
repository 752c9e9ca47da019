"""Several `opendgm` command lines run by the real entry point (`opendgm.cli.main`) in one child process, one after
the other: each keeps its own exit status, stdout and stderr (with the traceback Python would print), and the
process pays opendgm's imports once instead of once per command (a second or more each on a loaded machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

DRIVER = """
import contextlib, io, json, sys, traceback
from opendgm.cli import main
ran = []
for argv in json.loads(sys.argv[1]):
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = ["opendgm", *argv]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exit:
            code = 0 if exit.code is None else exit.code if isinstance(exit.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    ran.append((code, out.getvalue(), err.getvalue()))
print(json.dumps(ran))
"""


def run_commands(
    argvs: Sequence[Sequence[object]],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> list[subprocess.CompletedProcess[str]]:
    """Each command line's outcome, in order, as `subprocess.run(..., capture_output=True, text=True)` gives it."""
    lines = [[str(arg) for arg in argv] for argv in argvs]
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(lines)],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ran = json.loads(done.stdout.splitlines()[-1])
    return [
        subprocess.CompletedProcess(["opendgm", *line], code, out, err)
        for line, (code, out, err) in zip(lines, ran, strict=True)
    ]
