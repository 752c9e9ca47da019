"""One host uid per local sandbox (when opendgm runs as root), leased from a dedicated range.

Sharing one uid (as `nobody` did) lets sandboxes share RLIMIT_NPROC, read each other's /proc/*/environ
(gateway tokens), write into each other's workspaces and signal each other. A lease is an exclusive
`flock` on a lock file per uid: the kernel drops it when the holder exits, however it exits, so a uid is
never handed out twice by concurrent opendgm processes and never stays taken by a dead one. The file says
"dirty" while a holder may have processes running; the next holder of a dirty uid kills them first (a
holder that released it cleanly says "clean", which spares the next one a few milliseconds).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from opendgm.sandbox.base import EngineFailure

# 0x70000000..: above the ranges Linux distributions hand to users, system services and container
# engines' subordinate ids, below 2^31 (where signed uid bugs start).
UID_BASE = 0x70000000
UID_COUNT = 65536
LOCK_DIR = Path(tempfile.gettempdir()) / "opendgm-uids"
DIRTY, CLEAN = b"dirty", b"clean"


class HostUid:
    """A leased uid; `release()` (or the process's exit) gives it back."""

    def __init__(self, uid: int, lock_fd: int) -> None:
        self.uid = uid
        self._fd: int | None = lock_fd

    @classmethod
    def acquire(cls) -> HostUid:
        """The lowest free uid of the range (so few lock files ever exist; a taken one costs one flock try)."""
        for uid in range(UID_BASE, UID_BASE + UID_COUNT):
            lease = cls.try_acquire(uid)
            if lease is not None:
                return lease
        raise EngineFailure(f"no free sandbox uid left in {UID_BASE}..{UID_BASE + UID_COUNT - 1}")

    @classmethod
    def try_acquire(cls, uid: int) -> HostUid | None:
        """The lease of `uid` if nobody holds it. Leftovers of a dead holder are killed before it is reused."""
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(LOCK_DIR / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        lease = cls(uid, fd)
        if os.pread(fd, len(DIRTY), 0) == DIRTY:
            kill_every_process_of(uid)  # a dead holder's detached processes must not greet the next sandbox
        lease._mark(DIRTY)
        return lease

    def release(self, clean: bool = False) -> None:
        """Give the uid back; `clean` when the holder knows none of its processes is left."""
        if self._fd is not None:
            if clean:
                self._mark(CLEAN)
            os.close(self._fd)
            self._fd = None

    def _mark(self, state: bytes) -> None:
        assert self._fd is not None
        os.pwrite(self._fd, state, 0)
        os.ftruncate(self._fd, len(state))


def kill_every_process_of(uid: int, rounds: int = 20) -> bool:
    """SIGKILL every process of `uid`, setsid'd, double-forked and non-dumpable ones too; True when none is left.

    `kill -KILL -1` run as that uid reaches every process it owns, and is atomic with respect to fork (the
    kernel refuses a fork while a fatal signal is pending). It exits non-zero once no process was left to
    signal; the extra rounds cover processes that were still being torn down.
    """
    if not UID_BASE <= uid < UID_BASE + UID_COUNT or uid in (0, os.getuid()):  # `kill -1` as root kills all
        raise ValueError(f"refusing a uid-wide kill for uid {uid}: not a leased sandbox uid")
    if os.geteuid() != 0:
        return False
    for attempt in range(rounds):
        killer = subprocess.run(
            [_KILL, "-KILL", "-1"], user=uid, group=uid, extra_groups=[], capture_output=True, check=False
        )
        if killer.returncode != 0:
            return True
        time.sleep(0.01 * attempt)
    return False


_KILL = shutil.which("kill") or "/bin/kill"
