"""A tar stream of a folder the sandboxed code wrote, read on the host without ever following a link.

The local backend's workspace lives on the host, so its links would lead to host files if followed.
Every path component is opened relative to its parent's descriptor with O_NOFOLLOW, files are opened only
when they are regular files, links are archived as links (their target text), and the stream is produced
chunk by chunk: memory stays flat whatever the sandboxed code wrote.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import PurePosixPath

CHUNK = 1 << 16
BLOCK = tarfile.BLOCKSIZE
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class NotThere(OSError):
    """The path is missing, passes through a link, or is neither a folder nor a regular file."""


def stream_tar(root_fd: int, relative: PurePosixPath) -> Iterator[bytes]:
    """A tar of the folder or file `relative` under the folder open at `root_fd`, whose single top entry
    is its name (`get_archive`'s layout). Raises NotThere, lazily, for a link at any component."""
    if not relative.parts:
        yield from _tar_of_folder(os.dup(root_fd), "workspace")
        return
    parent = _open_folder(root_fd, relative.parent)
    try:
        try:
            info = os.stat(relative.name, dir_fd=parent, follow_symlinks=False)
        except OSError as exc:
            raise NotThere(f"{relative} does not exist in the sandbox ({exc.strerror})") from None
        if stat.S_ISDIR(info.st_mode):
            yield from _tar_of_folder(os.open(relative.name, _DIRECTORY, dir_fd=parent), relative.name)
        elif stat.S_ISREG(info.st_mode):
            yield from _file(parent, relative.name, relative.name)
            yield b"\0" * (2 * BLOCK)
        else:
            raise NotThere(f"{relative} is a link or a special file in the sandbox, not a file or folder")
    finally:
        os.close(parent)


def _open_folder(root_fd: int, relative: PurePosixPath) -> int:
    """A descriptor of folder `relative` under `root_fd`, opened one component at a time, never a link."""
    fd = os.dup(root_fd)
    try:
        for part in relative.parts:
            if part in ("..", "/"):
                raise NotThere(f"{relative} leaves the workspace")
            try:
                child = os.open(part, _DIRECTORY, dir_fd=fd)
            except OSError as exc:
                raise NotThere(f"{relative} is not a folder in the sandbox ({exc.strerror}: {part})") from None
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def _tar_of_folder(folder_fd: int, top: str) -> Iterator[bytes]:
    """Every entry under the folder open at `folder_fd`, under `top`, then the end of the archive."""
    try:
        yield _header(top, os.fstat(folder_fd), tarfile.DIRTYPE)
        for path, names, files, fd in os.fwalk(".", dir_fd=folder_fd, follow_symlinks=False):
            prefix = PurePosixPath(top, path)
            for name in sorted(names + files):  # fwalk lists a link to a folder among folders: _entry tells
                yield from _entry(fd, name, str(prefix / name))
        yield b"\0" * (2 * BLOCK)
    finally:
        os.close(folder_fd)


def _entry(folder_fd: int, name: str, arcname: str) -> Iterator[bytes]:
    try:
        info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        yield _header(arcname, info, tarfile.DIRTYPE)
    elif stat.S_ISLNK(info.st_mode):
        yield _header(arcname, info, tarfile.SYMTYPE, os.readlink(name, dir_fd=folder_fd))
    elif stat.S_ISREG(info.st_mode):
        yield from _file(folder_fd, name, arcname)
    # devices, fifos and sockets are left out: nothing of them could be stored or graded


def _file(folder_fd: int, name: str, arcname: str) -> Iterator[bytes]:
    try:
        fd = os.open(name, _FILE, dir_fd=folder_fd)
    except OSError:  # replaced by a link or made unreadable meanwhile: left out like a special file
        return
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return
        yield _header(arcname, info, tarfile.REGTYPE)
        left = info.st_size
        while left:
            chunk = os.read(fd, min(CHUNK, left)) or b"\0" * min(CHUNK, left)  # shrunk meanwhile: zero-fill
            left -= len(chunk)
            yield chunk
        yield b"\0" * (-info.st_size % BLOCK)
    finally:
        os.close(fd)


def _header(arcname: str, info: os.stat_result, kind: bytes, linkname: str = "") -> bytes:
    entry = tarfile.TarInfo(arcname)
    entry.type, entry.linkname = kind, linkname
    entry.mode = stat.S_IMODE(info.st_mode)
    entry.size = info.st_size if kind == tarfile.REGTYPE else 0
    entry.mtime = int(info.st_mtime)
    return entry.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
