"""A size-capped tmpfs mounted on the host (root only): the local backend's workspace.

A full tmpfs answers ENOSPC ("No space left on device") to the sandboxed code and costs the host's disk
nothing; per-file rlimits alone let many files add up to any size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

MNT_DETACH = 2
MS_NOSUID, MS_NODEV = 0x2, 0x4
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def mount_tmpfs(target: Path, size_mb: int, uid: int, mode: int = 0o700) -> None:
    """Mount a tmpfs of `size_mb` on `target`, owned by `uid` (inodes capped with the size: an inode costs
    kernel memory that the size does not count)."""
    inodes = max(size_mb * 128, 4096)
    options = f"size={size_mb}m,nr_inodes={inodes},mode={mode:o},uid={uid},gid={uid}"
    if _libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode()) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount tmpfs on {target}: {os.strerror(error)}")


def unmount(target: Path) -> None:
    """Detach a mount (lazily, so a process still inside cannot keep it busy)."""
    if _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unmount {target}: {os.strerror(error)}")


def mounts_under(folder: Path) -> list[Path]:
    """Mount points at or below `folder`, deepest first (from this process's mount table)."""
    prefix = str(folder.resolve())
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as table:
        for line in table:
            point = line.split()[4].encode().decode("unicode_escape")  # octal escapes such as \040
            if point == prefix or point.startswith(prefix + "/"):
                points.append(Path(point))
    return sorted(points, key=lambda p: len(p.parts), reverse=True)
