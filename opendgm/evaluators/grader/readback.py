"""Files a grader reads once the command ended, printed by the grading script itself (issue 18).

A read is a round trip of its own (on Docker's tmpfs workspace, an exec), so the grading script prints each
file after the command, on one line of its output: `TAG INDEX b<base64> TAG` for a regular file, `TAG INDEX -
TAG` for anything else (missing, a folder, a link: never followed, as the sandbox's own reads refuse a link).
TAG is drawn per grading; it only keeps these lines apart from the command's output. The lines are trusted no
more than the files were: code the tests ran can print such a line as it can write the file, and the grader's
own checks decide on the content (invariant 8: scores cannot be forged; the canary). A line cut off at the
output cap is no line: the grader reads that file the old way.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import shlex
from dataclasses import dataclass, field, replace

from opendgm.sandbox import ExecResult, Sandbox, SandboxError

READ_LINE = r"\n?{tag} (\d+) (b[A-Za-z0-9+/=]*|-) {tag}\n"


def _tag() -> str:
    return f"opendgm-readback-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Readback:
    """The files (absolute sandbox paths) to bring home in the grading's own output."""

    paths: tuple[str, ...]
    tag: str = field(default_factory=_tag)

    def command(self) -> str:
        """Shell that prints each file's line (run after the command: `PatchedRun.then`)."""
        lines = []
        for index, path in enumerate(self.paths):
            quoted = shlex.quote(path)
            lines.append(
                f"if [ -f {quoted} ] && [ ! -L {quoted} ] && body=b$(base64 -w0 < {quoted}); then :; else body=-; fi; "
                f'printf "\\n%s %s %s %s\\n" {self.tag} {index} "$body" {self.tag}'
            )
        return "; ".join(lines)

    def read(self, run: ExecResult, sandbox: Sandbox) -> tuple[ExecResult, dict[str, bytes | None]]:
        """The run with these lines taken off its stdout, and each file's bytes (None: no regular file there).
        The last line of a file counts; a file whose line was cut off at the output cap is read from `sandbox`."""
        pattern = re.compile(READ_LINE.format(tag=re.escape(self.tag)))
        files: dict[str, bytes | None] = {}
        for match in pattern.finditer(run.stdout):
            index, body = int(match.group(1)), match.group(2)
            if index >= len(self.paths):
                continue
            try:
                files[self.paths[index]] = None if body == "-" else base64.b64decode(body[1:], validate=True)
            except (binascii.Error, ValueError):
                files.pop(self.paths[index], None)
        for path in self.paths:
            if path not in files:
                files[path] = _read(sandbox, path)
        return replace(run, stdout=pattern.sub("", run.stdout)), files


def _read(sandbox: Sandbox, path: str) -> bytes | None:
    try:
        return sandbox.get_file(path)
    except SandboxError:
        return None
