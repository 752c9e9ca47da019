"""The bash tool: one shell that stays open for the whole run, so `cd`, exported variables and shell
functions carry over from one call to the next.

Each command is written to a scratch file and sourced by the long-lived shell with stdin closed, then the
shell prints a fresh random marker and the command's exit status; output is read up to that marker.
Sourcing a file (rather than typing the command into the shell) keeps an unclosed quote or here-document
from swallowing the marker. A command still running at its time limit gets its whole process group killed
and a new shell is started, and the model is told that the old shell's state is gone.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from tools import Observation, ToolContext

SPEC = {
    "name": "bash",
    "description": (
        "Run commands in a bash shell that stays open for the whole task. The shell starts in the repository; "
        "the working directory, exported variables and shell functions carry over to later calls. Standard "
        "input is closed, so interactive programs cannot be used. stdout and stderr come back together, "
        "shortened in the middle when very long, with the exit status when it is not 0. A command still running "
        "at the time limit (120 s unless configured otherwise) is stopped and the shell restarted, losing its state."
    ),
    "parameters": {
        "type": "object",
        "properties": {"command": {"type": "string", "description": "The bash command(s) to run."}},
        "required": ["command"],
    },
}

CHUNK_BYTES = 64 * 1024
QUEUED_CHUNKS = 256  # a flood waits in the pipe (the writer blocks), not in this process's memory
MARKER_CARRY = 128  # longer than an end-marker line
MIN_KEEP_BYTES = 256
PUMP_SETTLE_S = 1.0
TIMED_OUT = (
    "[The command was still running after {seconds:g} s and was stopped. The shell was restarted in {cwd}: "
    "the working directory, variables and background jobs of the old shell are gone.]"
)
EXITED = (
    "[The shell exited (status {code}). A new shell was started in {cwd}: the old shell's working directory "
    "and variables are gone.]"
)
RESUMED = "[The previous shell had ended; this command ran in a new shell.]"


class _Capture:
    """The output of one command, kept as a head and a tail of at most `keep` bytes each; the middle is counted."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.keep - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        excess = len(self.tail) - self.keep
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def drop_last(self, count: int) -> None:
        """Forget the last `count` bytes of the stream (the end marker and anything after it)."""
        from_tail = min(count, len(self.tail))
        del self.tail[len(self.tail) - from_tail :]
        count -= from_tail
        from_gap = min(count, self.dropped)
        self.dropped -= from_gap
        count -= from_gap
        if count:
            del self.head[len(self.head) - count :]

    def text(self) -> str:
        if not self.dropped:
            return (self.head + self.tail).decode("utf-8", errors="replace")
        head, tail = self.head.decode("utf-8", errors="replace"), self.tail.decode("utf-8", errors="replace")
        return f"{head}\n[... {self.dropped} bytes of output omitted ...]\n{tail}"


def _pump(stream: IO[bytes], chunks: queue.Queue[bytes | None]) -> None:
    """Move the shell's output into `chunks` until the pipe closes (then a None)."""
    try:
        while data := os.read(stream.fileno(), CHUNK_BYTES):
            chunks.put(data)
    except OSError:
        pass
    chunks.put(None)


class ShellSession:
    """A long-lived `bash` in its own process group, fed one command at a time."""

    def __init__(self, cwd: Path, keep_bytes: int) -> None:
        self.cwd = cwd
        self.keep_bytes = max(keep_bytes, MIN_KEEP_BYTES)
        self._scratch = Path(tempfile.mkdtemp(prefix="agent-shell-"))
        self._start()

    def _start(self) -> None:
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self._pump = threading.Thread(target=_pump, args=(self.process.stdout, self._chunks), daemon=True)
        self._pump.start()

    def _kill(self) -> None:
        """End the shell and its process group, and close the pipes once nothing reads them."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        with contextlib.suppress(OSError):  # the shell may have died with unread input in the pipe
            self.process.stdin.close()
        settle = time.monotonic() + PUMP_SETTLE_S
        while self._pump.is_alive() and time.monotonic() < settle:
            with contextlib.suppress(queue.Empty):  # make room, so the pump reaches the end of the pipe
                self._chunks.get(timeout=0.05)
        if not self._pump.is_alive():  # else a process that left the group still holds the pipe: leave it be
            self.process.stdout.close()

    def restart(self) -> None:
        self._kill()
        self._start()

    def close(self) -> None:
        self._kill()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def run(self, command: str, timeout_s: float) -> tuple[str, int | None, str]:
        """(output, exit status or None, note); the note says when the shell had to be restarted."""
        script = self._write(command)
        note = ""
        if self.process.poll() is not None:
            self._start()
            note = RESUMED
        marker = f"__agent_done_{secrets.token_hex(8)}__".encode()
        try:
            self._send(script, marker)
        except OSError:  # the shell died just now
            self.restart()
            self._send(script, marker)
            note = RESUMED
        output, status, ending = self._read(marker, timeout_s)
        return output, status, "\n".join(part for part in (note, ending) if part)

    def _write(self, command: str) -> Path:
        self._scratch.mkdir(parents=True, exist_ok=True)  # a command may have emptied /tmp
        script = self._scratch / "command.sh"
        script.write_text(command + "\n", encoding="utf-8", errors="surrogateescape")
        return script

    def _send(self, script: Path, marker: bytes) -> None:
        """Source the script in the shell with stdin closed, then print the marker and its exit status."""
        quoted = "'" + str(script).replace("'", "'\\''") + "'"
        line = f"{{ . {quoted}; }} </dev/null\nbuiltin printf '\\n%s %d\\n' '{marker.decode()}' \"$?\"\n"
        stdin = self.process.stdin
        assert stdin is not None  # always a pipe (see _start)
        stdin.write(line.encode())
        stdin.flush()

    def _read(self, marker: bytes, timeout_s: float) -> tuple[str, int | None, str]:
        ending = re.compile(re.escape(b"\n" + marker) + rb" (\d+)\n")
        capture, carried = _Capture(self.keep_bytes // 2), b""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                chunk = self._chunks.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                self.restart()
                return capture.text(), None, TIMED_OUT.format(seconds=timeout_s, cwd=self.cwd)
            if chunk is None:
                code = self.process.wait()
                self.restart()  # also ends what the old shell left running in its process group
                return capture.text(), code, EXITED.format(code=code, cwd=self.cwd)
            capture.add(chunk)
            window = carried + chunk  # the whole read: a writer racing the shell may follow the marker
            found = ending.search(window)
            if found:
                capture.drop_last(len(window) - found.start())
                return capture.text(), int(found.group(1)), ""
            carried = window[-MARKER_CARRY:]  # a marker split across two reads


_context = ToolContext(repo=Path.cwd())
_session: ShellSession | None = None


def setup(context: ToolContext) -> None:
    global _context
    close()
    _context = context


def close() -> None:
    global _session
    if _session is not None:
        _session.close()
        _session = None


def run(command: str) -> str:
    global _session
    if not isinstance(command, str) or not command.strip():
        return "Error: `command` must be a non-empty string."
    if _session is None:
        _session = ShellSession(_context.repo, _context.observation_chars)
    timeout = _context.command_timeout_s
    left = _context.time_left()
    if left is not None:
        timeout = max(min(timeout, left), 1.0)  # never run past the agent's own time limit
    output, status, note = _session.run(command, timeout)
    parts = [output if output else "(no output)"]
    if status not in (0, None):
        parts.append(f"[exit status {status}]")
    if note:
        parts.append(note)
    return Observation("\n".join(parts), exit_code=status, timed_out=status is None)
