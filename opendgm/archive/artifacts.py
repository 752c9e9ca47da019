"""`artifacts/`: trajectories, logs and patches, addressed by a stable relative path.

Files over `GZIP_THRESHOLD` are stored as `<path>.gz`; callers never see the difference because
reading resolves either form. Writes go to a temporary file that is fsynced and renamed into place, so
a path recorded in the database (after `put` returns) always names a complete file.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from opendgm.archive.errors import ArchiveError

GZIP_THRESHOLD = 64 * 1024
_PARTIAL = ".partial-"


class ArtifactStore:
    def __init__(self, root: Path, *, readonly: bool = False) -> None:
        self.root = root
        self.readonly = readonly

    def _logical(self, relpath: str) -> Path:
        pure = PurePosixPath(relpath)
        if not relpath or pure.is_absolute() or ".." in pure.parts or pure.name.startswith(_PARTIAL):
            raise ArchiveError(f"artifact path {relpath!r} must be relative, inside artifacts/")
        return self.root.joinpath(*pure.parts)

    def path(self, relpath: str) -> Path:
        """The file on disk holding `relpath` (possibly its `.gz` form)."""
        plain = self._logical(relpath)
        for candidate in (plain, plain.with_name(plain.name + ".gz")):
            if candidate.is_file():
                return candidate
        raise ArchiveError(f"no artifact {relpath!r} in {self.root}")

    def exists(self, relpath: str) -> bool:
        plain = self._logical(relpath)
        return plain.is_file() or plain.with_name(plain.name + ".gz").is_file()

    def open(self, relpath: str) -> io.BufferedIOBase:
        """A binary reader of the artifact's original bytes (decompressed when stored gzipped)."""
        found = self.path(relpath)
        return gzip.open(found, "rb") if found.suffix == ".gz" else found.open("rb")

    def read_bytes(self, relpath: str) -> bytes:
        with self.open(relpath) as stream:
            return stream.read()

    def read_text(self, relpath: str) -> str:
        """The artifact as text for reading (prompts, views): bytes that are not UTF-8 are replaced.
        `read_bytes` gives the exact bytes (an agent's diff round-trips through surrogateescape)."""
        return self.read_bytes(relpath).decode(errors="replace")

    def put(self, relpath: str, data: bytes | str) -> str:
        """Store `data` under `relpath` (replacing it); returns `relpath`, the name to record. Text is
        stored byte-exact: surrogate escapes (an agent's non-UTF-8 bytes) become their original bytes."""
        raw = data.encode(errors="surrogateescape") if isinstance(data, str) else data
        return self._store(relpath, len(raw), lambda sink: sink.write(raw))

    def put_file(self, relpath: str, source: Path) -> str:
        """Copy a file (e.g. a log a sandbox wrote) into the store, streaming, compressed if large."""
        with source.open("rb") as stream:
            return self._store(relpath, source.stat().st_size, lambda sink: shutil.copyfileobj(stream, sink))

    def _store(self, relpath: str, size: int, write: Callable[[io.BufferedIOBase], object]) -> str:
        if self.readonly:
            raise ArchiveError("this archive was opened read-only")
        plain = self._logical(relpath)
        packed = plain.with_name(plain.name + ".gz")
        target, stale = (packed, plain) if size > GZIP_THRESHOLD else (plain, packed)
        plain.parent.mkdir(parents=True, exist_ok=True)
        partial = plain.with_name(f"{_PARTIAL}{uuid.uuid4().hex}-{plain.name}")
        try:
            with partial.open("wb") as sink:
                if target is packed:
                    with gzip.GzipFile(fileobj=sink, mode="wb", mtime=0) as zipped:
                        write(zipped)
                else:
                    write(sink)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        stale.unlink(missing_ok=True)
        _fsync_dir(plain.parent)
        return relpath

    def remove_partials(self) -> int:
        """Delete half-written files a killed writer left behind; returns how many."""
        partials = list(self.root.rglob(f"{_PARTIAL}*"))
        for partial in partials:
            partial.unlink(missing_ok=True)
        return len(partials)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
