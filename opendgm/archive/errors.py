"""The exceptions a user of the archive has to handle."""

import os
from pathlib import Path


class ArchiveError(Exception):
    """A campaign directory is missing, corrupt, locked by another writer, or was asked something
    inconsistent. The message says which, in words a user can act on."""


class NoSpace(ArchiveError):
    """The filesystem holding the archive is full: the host's failure, not the archive's damage."""


def no_space_left(path: Path) -> bool:
    """Whether the filesystem holding `path` (or its nearest existing parent) has less than 64 KB free."""
    while not path.exists() and path != path.parent:
        path = path.parent
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize < 64 * 1024


def full_disk(root: Path) -> NoSpace:
    return NoSpace(f"no space left on the device holding {root}: free some space and run the command again")
