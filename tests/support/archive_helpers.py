"""Helpers to write agent code trees and read them back, exactly (bytes and the executable bit)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

Tree = dict[str, bytes | str | tuple[bytes | str, int]]  # path -> content, or (content, mode)


def write_tree(root: Path, files: Tree) -> Path:
    """Make `root` hold exactly `files` (anything else there is removed)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for relpath, spec in files.items():
        content, mode = spec if isinstance(spec, tuple) else (spec, 0o644)
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        os.chmod(path, mode)
    return root


def read_tree(root: Path) -> dict[str, tuple[bytes, bool]]:
    """path -> (bytes, executable) for every file under `root`."""
    return {
        path.relative_to(root).as_posix(): (path.read_bytes(), os.access(path, os.X_OK))
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def as_read(files: Tree) -> dict[str, tuple[bytes, bool]]:
    """What `read_tree` should return for a tree written from `files`."""
    found = {}
    for relpath, spec in files.items():
        content, mode = spec if isinstance(spec, tuple) else (spec, 0o644)
        found[relpath] = (content.encode() if isinstance(content, str) else content, bool(mode & 0o100))
    return dict(sorted(found.items()))
