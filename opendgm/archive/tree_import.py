"""A tar stream of an agent's workspace, turned into a git tree under the host's rules, as it arrives.

Invariant 7 (agent output never acts on the host, docs/invariants.md).

The stream comes out of a sandbox (`Sandbox.stream_archive`), so every entry is the agent's choice. Files
become blobs through `git fast-import` (no filters, no attributes, nothing checked out), links become
link blobs (their target, never followed), `.git` folders and special files are left out, and the tree
is written from a private index. Bytes are counted as they pass: past the cap the import stops
(`TooLarge`), so the host never holds more than a read buffer of what the agent wrote.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from opendgm.archive.errors import ArchiveError
from opendgm.archive.gitstore import GitStore
from opendgm.archive.trees import LINK_MODE, TooLarge

COPY_CHUNK = 1 << 16
BIG_FILE = "1m"  # fast-import streams larger blobs instead of holding them for delta compression


@dataclass(frozen=True)
class ImportedTree:
    tree: str
    size: int  # bytes of file contents and link targets


class ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (what a sandbox streams)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._pending = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def import_tar(store: GitStore, chunks: Iterable[bytes], limit: int | None) -> ImportedTree:
    """Import the tree under the stream's single top entry (its contents, not the folder itself)."""
    with tempfile.TemporaryDirectory(prefix="opendgm-import-") as scratch:
        marks = Path(scratch) / "marks"
        process = store.spawn(
            "fast-import", "--quiet", "--done", f"--big-file-threshold={BIG_FILE}", f"--export-marks={marks}",
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert process.stdin is not None
        try:
            entries, size = _feed(process.stdin, iter(chunks), limit)
            process.stdin.write(b"done\n")
            process.stdin.close()
        except BaseException:
            process.kill()
            process.wait()
            raise
        assert process.stderr is not None
        problem = process.stderr.read()
        if process.wait() != 0:
            raise ArchiveError(f"git fast-import failed in {store.git_dir}: {problem.decode(errors='replace')}")
        by_mark = dict(line.split() for line in marks.read_text().splitlines()) if marks.exists() else {}
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        records = b"".join(  # one index entry per path: mode, blob, path
            f"{mode} {by_mark[mark]}\t".encode() + path + b"\0" for path, (mode, mark) in entries.items()
        )
        store.git("update-index", "-z", "--add", "--index-info", stdin=records, env=index)
        return ImportedTree(store.git("write-tree", env=index).decode().strip(), size)


def _feed(sink: IO[bytes], chunks: Iterator[bytes], limit: int | None) -> tuple[dict[bytes, tuple[str, str]], int]:
    """Write each file and link of the stream as a fast-import blob; path -> (mode, mark) and bytes seen."""
    entries: dict[bytes, tuple[str, str]] = {}
    size = 0
    with tarfile.open(fileobj=io.BufferedReader(ChunkReader(chunks), COPY_CHUNK), mode="r|") as tar:
        for member in tar:
            path = _tree_path(member.name)
            if path is None:
                continue
            if member.islnk():  # a hard link: the same content as an entry already seen
                target = _tree_path(member.linkname)
                if target is not None and target in entries:
                    entries[path] = entries[target]
                continue
            if not (member.isreg() or member.issym()):
                continue  # folders are implied by paths; devices, fifos and sockets have no place in git
            data_size = member.size if member.isreg() else len(os.fsencode(member.linkname))
            size += data_size
            if limit is not None and size > limit:
                raise TooLarge(f"the agent's files add up to more than {limit} bytes")
            mark = f":{len(entries) + 1}"
            sink.write(f"blob\nmark {mark}\ndata {data_size}\n".encode())
            if member.isreg():
                _copy(tar.extractfile(member), sink, member.size)
                mode = "100755" if member.mode & 0o111 else "100644"
            else:
                sink.write(os.fsencode(member.linkname))
                mode = LINK_MODE
            sink.write(b"\n")
            entries[path] = (mode, mark)
    return entries, size


def _copy(source: IO[bytes] | None, sink: IO[bytes], size: int) -> None:
    assert source is not None
    left = size
    while left:
        chunk = source.read(min(COPY_CHUNK, left))
        if not chunk:
            raise ArchiveError("the workspace stream ended inside a file")
        sink.write(chunk)
        left -= len(chunk)


def _tree_path(name: str) -> bytes | None:
    """The path inside the tree (the stream's top folder removed), or None for what git must not hold."""
    parts = PurePosixPath(name).parts[1:]
    if not parts or any(part in ("", ".", "..") or part.lower() == ".git" for part in parts):
        return None
    return os.fsencode("/".join(parts))
