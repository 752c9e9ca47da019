"""Temporary folders that name their owner, so those of dead runs can be reaped like containers.

Agent code folders, gateway socket folders and local workspaces are named
`<prefix>o<pid>.<start ticks>.<host hash>-<random>`: the owner process (pid and start time, so a reused
pid is not the owner) and the machine, as container labels say. Start-up and `opendgm sandbox reap`
remove only folders of that form, owned by our user, whose owner is gone; `reap_own()` removes ours.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from opendgm.sandbox.owner import process_start_ticks
from opendgm.sandbox.tmpfs import mounts_under, unmount

log = logging.getLogger(__name__)

OWNED_NAME = re.compile(r"^(?:opendgm|odgm)-[a-z-]*?o(\d+)\.(\d+)\.([0-9a-f]{4})-[A-Za-z0-9_]+$")


def _host_hash() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:4]


def owner_tag() -> str:
    pid = os.getpid()
    return f"o{pid}.{process_start_ticks(pid) or 0}.{_host_hash()}"


def owned_folder(prefix: str = "opendgm-", mode: int = 0o755) -> Path:
    """A new temporary folder whose name says who owns it; traversable by sandbox users unless `mode` says no."""
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{owner_tag()}-"))
    folder.chmod(mode)
    return folder


@contextmanager
def reachable_scratch(prefix: str = "opendgm-") -> Iterator[Path]:
    """A temporary folder the local sandbox's users can traverse (for mounts and sockets), removed on exit."""
    folder = owned_folder(prefix)
    try:
        yield folder
    finally:
        remove_folder(folder)


def remove_folder(folder: Path) -> None:
    """Unmount whatever is mounted inside, then delete the folder (never following links)."""
    for point in mounts_under(folder):
        try:
            unmount(point)
        except OSError as exc:
            log.warning("could not unmount %s: %s", point, exc)
    shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class ReapedFolder:
    path: str
    reason: str


def reap_folders(own: bool = False, root: Path | None = None) -> list[ReapedFolder]:
    """Remove owner-named folders whose owner is gone (or, with `own`, whose owner is this process)."""
    removed = []
    mine = owner_tag()
    for entry in os.scandir(root or tempfile.gettempdir()):
        match = OWNED_NAME.match(entry.name)
        if match is None or match.group(3) != _host_hash():
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile: another process reaped it
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            continue  # a link, or someone else's: never ours to remove
        tag = f"o{match.group(1)}.{match.group(2)}.{match.group(3)}"
        if own:
            reason = "this process's" if tag == mine else None
        else:
            alive = process_start_ticks(int(match.group(1))) == match.group(2)
            reason = None if alive else "owner gone"
        if reason is not None:
            remove_folder(Path(entry.path))
            removed.append(ReapedFolder(entry.path, reason))
    return removed
