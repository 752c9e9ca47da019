"""Reading and writing agent trees as git objects, never as files on the host (invariant 7: agent output never
acts on the host, docs/invariants.md).

An agent's tree is hostile input: its links may point at host files, its file names and sizes are the
agent's choice. So the host reads an agent's code from the object store (`ls-tree`, `cat-file`), where a
link is a small blob holding its target and is listed as a link, never followed; it writes a child by
building a new tree from objects; and diffs are computed by the store's host-rule git, streamed and
capped. Nothing here touches a work tree.
"""

from __future__ import annotations

import posixpath
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from opendgm.archive.errors import ArchiveError
from opendgm.archive.gitstore import PATCH_DIFF, GitStore

LINK_MODE = "120000"
FILE_MODES = ("100644", "100755")
READ_CHUNK = 1 << 16


class TooLarge(Exception):
    """An agent's tree or diff is over its size cap (the agent's doing: stored as `patch_too_large`)."""


@dataclass(frozen=True)
class TreeEntry:
    """One path of a tree: a file (mode 100644/100755), a link (120000) or a submodule (160000)."""

    path: str
    mode: str
    sha: str

    @property
    def is_link(self) -> bool:
        return self.mode == LINK_MODE

    @property
    def is_file(self) -> bool:
        return self.mode in FILE_MODES


def list_tree(store: GitStore, treeish: str) -> list[TreeEntry]:
    """Every path under `treeish`, recursively, in git's order (paths decoded with surrogateescape)."""
    out = store.git("ls-tree", "-r", "-z", "--full-tree", treeish)
    entries = []
    for record in out.split(b"\0"):
        if record:
            header, path = record.split(b"\t", 1)
            mode, _kind, sha = header.decode().split()
            entries.append(TreeEntry(path.decode(errors="surrogateescape"), mode, sha))
    return entries


def read_blobs(store: GitStore, shas: Iterable[str]) -> dict[str, bytes]:
    """The content of each blob, in one git process."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return {}
    out = store.git("cat-file", "--batch", stdin="".join(f"{sha}\n" for sha in wanted).encode())
    found, position = {}, 0
    for sha in wanted:
        end = out.index(b"\n", position)
        header = out[position:end].decode().split()
        if header[1] != "blob":
            raise ArchiveError(f"object {sha} is not a blob")
        size = int(header[2])
        found[sha] = out[end + 1 : end + 1 + size]
        position = end + 1 + size + 1
    return found


def link_targets(store: GitStore, entries: Iterable[TreeEntry]) -> dict[str, str]:
    """path -> target of each link among `entries`."""
    links = [entry for entry in entries if entry.is_link]
    blobs = read_blobs(store, (entry.sha for entry in links))
    return {entry.path: blobs[entry.sha].decode(errors="surrogateescape") for entry in links}


def outward_links(targets: dict[str, str]) -> list[str]:
    """`path -> target` for each link that points outside the tree (absolute, or escaping with ..)."""
    outward = []
    for path, target in sorted(targets.items()):
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            outward.append(f"{path} -> {target}")
    return outward


def check_links(store: GitStore, treeish: str) -> None:
    """Refuse a tree with links pointing outside itself: on the host they could only lead to host files."""
    outward = outward_links(link_targets(store, list_tree(store, treeish)))
    if outward:
        shown = ", ".join(outward[:5]) + (" ..." if len(outward) > 5 else "")
        raise ArchiveError(f"the agent's code has links pointing outside itself: {shown}")


def write_blob(store: GitStore, data: bytes) -> str:
    """Store `data` as a blob exactly as given (no filters, no attributes)."""
    return store.git("hash-object", "-w", "--no-filters", "--stdin", stdin=data).decode().strip()


def replace_file(store: GitStore, tree: str, path: str, data: bytes, mode: str = "100644") -> str:
    """The tree `tree` with the file at `path` holding `data`: a new tree, built from objects alone."""
    blob = write_blob(store, data)
    with tempfile.TemporaryDirectory(prefix="opendgm-index-") as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        store.git("read-tree", tree, env=index)
        store.git("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=index)
        return store.git("write-tree", env=index).decode().strip()


def diff(store: GitStore, old: str, new: str, limit: int) -> str:
    """The host's diff from tree `old` to tree `new`, read as it streams; TooLarge past `limit` bytes.

    Decoded with surrogateescape, so the text round-trips to the agent's exact bytes.
    """
    process = store.spawn(*PATCH_DIFF, old, new, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    chunks, size = [], 0
    try:
        while chunk := process.stdout.read(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the agent's diff is larger than {limit} bytes")
            chunks.append(chunk)
    finally:
        process.kill()
        _, problem = process.communicate()
    if process.returncode not in (0, -9):
        raise ArchiveError(f"git diff-tree failed in {store.git_dir}: {problem.decode(errors='replace')}")
    return b"".join(chunks).decode(errors="surrogateescape")


@dataclass(frozen=True)
class CodeTree:
    """An agent's code as stored: its entries, file contents and link targets, read from git objects."""

    store: GitStore
    treeish: str

    def entries(self) -> list[TreeEntry]:
        return list_tree(self.store, self.treeish)

    def entry(self, path: str) -> TreeEntry | None:
        return next((entry for entry in self.entries() if entry.path == path), None)

    def files(self) -> dict[str, bytes]:
        """path -> content of every regular file (links and submodules are not files)."""
        files = [entry for entry in self.entries() if entry.is_file]
        blobs = read_blobs(self.store, (entry.sha for entry in files))
        return {entry.path: blobs[entry.sha] for entry in files}

    def links(self) -> dict[str, str]:
        return link_targets(self.store, self.entries())

    def executables(self) -> set[str]:
        return {entry.path for entry in self.entries() if entry.mode == "100755"}

    def read(self, path: str) -> bytes:
        """The content of the regular file at `path`; ArchiveError for a link, a folder or nothing."""
        entry = self.entry(path)
        if entry is None or not entry.is_file:
            kind = "nothing" if entry is None else "a link" if entry.is_link else f"mode {entry.mode}"
            raise ArchiveError(f"{path} is not a regular file of the agent's code ({kind})")
        return read_blobs(self.store, [entry.sha])[entry.sha]
