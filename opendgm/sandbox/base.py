"""The Sandbox contract shared by every backend, and the tar plumbing they have in common."""

from __future__ import annotations

import io
import tarfile
from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from opendgm.sandbox.spec import SANDBOX_GID, SANDBOX_UID, SandboxSpec


class SandboxError(RuntimeError):
    """A sandbox could not be created, used or cleaned up."""


class EngineFailure(SandboxError):
    """The engine, the image or the host failed, not the sandboxed code.

    Raised when the Docker engine does not answer or times out, when a container was killed, removed or
    paused from outside, when an image is missing, or when the host cannot set a local sandbox up. The
    host treats it as an infrastructure failure (retried, never a verdict); any other SandboxError, and an
    ExecResult that timed out, ran out of memory or exited non-zero, is the sandboxed code's own doing.
    """


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one command. Output beyond the spec's cap is dropped and flagged, never buffered."""

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float
    truncated: bool = False
    oom_killed: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def status(self) -> str:
        """One word for tables and logs."""
        if self.timed_out:
            return "timeout"
        if self.oom_killed:
            return "out-of-memory"
        return "ok" if self.exit_code == 0 else f"exit {self.exit_code}"


class Sandbox(ABC):
    """An isolated place to run untrusted code: exec, put files in, get files out, close.

    Use it as a context manager so that close() runs even when the caller fails.
    """

    backend_name: str = "abstract"
    #: whether processes inside see no network but loopback
    network_isolated: bool = True

    def __init__(self, spec: SandboxSpec) -> None:
        self.spec = spec

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release everything the sandbox holds. Idempotent."""

    # -- running -------------------------------------------------------------------------------
    @abstractmethod
    def exec(
        self,
        cmd: str | Sequence[str],
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        *,
        last: bool = False,
    ) -> ExecResult:
        """Run `cmd` (a shell string run by bash, or an argv list) and wait at most `timeout` seconds.

        `last`: nothing runs in this sandbox or is read from it afterwards (closing it is all that is left), so
        a backend may run the command as the sandbox's own process (Docker: the container's command, created
        with it, which saves an exec's round trips and processes); a later exec is refused."""

    def _spend(self, last: bool) -> None:
        """Refuse a command after the last one; note whether this one is it."""
        if getattr(self, "_spent", False):
            raise SandboxError("the sandbox already ran its last command")
        self._spent = last

    def caveats(self) -> list[str]:
        """What this sandbox does not contain here, in plain words (shown by `opendgm sandbox check`)."""
        return []

    @abstractmethod
    def kill_all(self) -> None:
        """End every process of the sandbox (detached ones too), e.g. before the host reads its workspace.

        Safe to call from another thread while an exec runs: that exec then returns, killed.
        """

    # -- files ---------------------------------------------------------------------------------
    @abstractmethod
    def put_archive(self, dest: str, tar_bytes: bytes) -> None:
        """Extract a tar archive into directory `dest` (created if missing)."""

    @abstractmethod
    def get_archive(self, src: str) -> bytes:
        """A tar archive of `src` (file or directory), whose single top entry is its basename."""

    @abstractmethod
    def stream_archive(self, src: str) -> Generator[bytes, None, None]:
        """`get_archive`, streamed in chunks so the caller can stop at its own size cap; links inside
        `src` are archived as links and never followed (by the host or the engine)."""

    def put_files(self, dest: str, files: Mapping[str, bytes | str]) -> None:
        """Write files (relative path -> content) under directory `dest`."""
        self.put_archive(dest, tar_of_files(files))

    def put_dir(self, src: Path, dest: str) -> None:
        """Copy the contents of host directory `src` into sandbox directory `dest`."""
        self.put_archive(dest, tar_of_dir(src))

    def get_dir(self, src: str, dest: Path) -> Path:
        """Copy sandbox directory `src` to host directory `dest` (its contents, not the folder)."""
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(self.get_archive(src))) as tar:
            top = Path(src.rstrip("/")).name
            for member in tar.getmembers():
                parts = Path(member.name).parts
                member.name = str(Path(*parts[1:])) if len(parts) > 1 and parts[0] == top else ""
            tar.extractall(dest, members=[m for m in tar.getmembers() if m.name], filter="data")
        return dest

    def get_file(self, path: str) -> bytes:
        """The content of one regular file inside the sandbox."""
        with tarfile.open(fileobj=io.BytesIO(self.get_archive(path))) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            if member is None:
                raise SandboxError(f"{path} is not a regular file in the sandbox")
            handle = tar.extractfile(member)
            assert handle is not None
            return handle.read()


def tar_of_files(
    files: Mapping[str, bytes | str],
    executables: set[str] | frozenset[str] = frozenset(),
    links: Mapping[str, str] | None = None,
) -> bytes:
    """An in-memory tar of the given relative paths and contents (text is written byte-exact: encoded
    with surrogateescape), the paths in `executables` with mode 755, and `links` (path -> target)."""
    links = links or {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        directories: set[str] = set()
        for name in [*files, *links]:
            path = Path(name.lstrip("/"))
            for parent in reversed(path.parents[:-1]):  # explicit entries, so the sandbox user owns them
                if str(parent) not in directories:
                    directories.add(str(parent))
                    tar.addfile(_sandbox_entry(str(parent), tarfile.DIRTYPE, 0o755))
            if name in links:
                info = _sandbox_entry(str(path), tarfile.SYMTYPE, 0o777)
                info.linkname = links[name]
                tar.addfile(info)
                continue
            content = files[name]
            data = content.encode(errors="surrogateescape") if isinstance(content, str) else content
            info = _sandbox_entry(str(path), tarfile.REGTYPE, 0o755 if name in executables else 0o644)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def with_prefix(tar_bytes: bytes, prefix: str) -> bytes:
    """The same archive with every entry moved under `prefix` (whose folders the sandbox user owns).

    Lets a backend extract into a folder that does not exist yet without a round trip to create it.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as source, tarfile.open(fileobj=buffer, mode="w") as tar:
        parts = Path(prefix).parts
        for depth in range(1, len(parts) + 1):
            tar.addfile(_sandbox_entry(str(Path(*parts[:depth])), tarfile.DIRTYPE, 0o755))
        for member in source.getmembers():
            member.name = str(Path(prefix) / member.name)
            tar.addfile(member, source.extractfile(member) if member.isfile() else None)
    return buffer.getvalue()


def _sandbox_entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, mode
    info.uid, info.gid = SANDBOX_UID, SANDBOX_GID
    return info


def tar_of_dir(src: Path) -> bytes:
    """An in-memory tar of a host directory's contents (paths relative to `src`)."""
    if not src.is_dir():
        raise SandboxError(f"{src} is not a directory")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for child in sorted(src.iterdir()):
            tar.add(child, arcname=child.name, filter=_owned_by_sandbox_user)
    return buffer.getvalue()


def _owned_by_sandbox_user(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Files put into a sandbox belong to its unprivileged user, so the code inside can edit them."""
    info.uid, info.gid = SANDBOX_UID, SANDBOX_GID
    info.uname = info.gname = ""
    return info
