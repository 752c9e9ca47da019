"""Docker backend: one long-lived, locked-down container per sandbox, driven through docker-py.

Containment: no network, all capabilities dropped, no-new-privileges, memory/CPU/pids caps, read-only
image filesystem, a size-capped tmpfs workspace volume, and `sleep <lifetime>` as the main process so a
container outlives a crashed owner by at most its lifetime. Commands run as an unprivileged user.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePosixPath

from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import DriverConfig
from docker.types import Mount as DockerMount

from opendgm.sandbox.base import ExecResult, Sandbox, SandboxError, with_prefix
from opendgm.sandbox.capture import CappedBuffer
from opendgm.sandbox.docker_client import docker_client
from opendgm.sandbox.owner import Owner
from opendgm.sandbox.spec import GATEWAY_SOCKET_PATH, SANDBOX_GID, SANDBOX_UID, SandboxSpec

log = logging.getLogger(__name__)

SANDBOX_USER = f"{SANDBOX_UID}:{SANDBOX_GID}"
# Grace given to coreutils `timeout` to kill the command before the host-side watchdog steps in.
KILL_GRACE_S = 2.0
WATCHDOG_GRACE_S = 5.0
TMP_SIZE_MB = 256
# Runs the command under coreutils `timeout` (its own process group, killed at the limit) and, when the
# command ends, kills whatever it left in that group, so no exec outlives itself (a fork bomb included;
# `kill` is a builtin, so it works even when no process can be forked).
GROUP_REAPER = (
    f'limit=$1; shift; timeout --kill-after={KILL_GRACE_S:g} "$limit" "$@" & pid=$!; '
    'wait "$pid"; rc=$?; kill -KILL -- "-$pid" 2>/dev/null; exit "$rc"'
)
STREAM_CHUNK = 1 << 16
OOM_COUNTER_CMD = "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null"


class DockerSandbox(Sandbox):
    """A sandbox backed by one Docker container (see the module docstring for what it enforces)."""

    backend_name = "docker"
    network_isolated = True

    def __init__(self, spec: SandboxSpec) -> None:
        super().__init__(spec)
        self._client = docker_client()
        self._lock = threading.Lock()
        self._oom_kills = 0
        self.owner = Owner.current(spec.campaign, spec.limits.wall_time_s)
        try:
            # create + start, never run(): run() would try to pull a missing image from a registry.
            self.container = self._client.containers.create(**self._create_kwargs())
        except ImageNotFound as exc:
            raise SandboxError(
                f"sandbox image {spec.image!r} is not present; build it with `opendgm sandbox build`"
            ) from exc
        except (APIError, DockerException) as exc:
            raise SandboxError(f"could not create a Docker sandbox from {spec.image!r}: {exc}") from exc
        try:
            self.container.start()
        except (APIError, DockerException) as exc:
            self.container.remove(force=True, v=True)
            raise SandboxError(f"could not start a Docker sandbox from {spec.image!r}: {exc}") from exc
        self._closed = False

    def _create_kwargs(self) -> dict:
        spec, limits = self.spec, self.spec.limits
        workspace_options = {
            "type": "tmpfs",
            "device": "tmpfs",
            "o": f"uid={SANDBOX_UID},gid={SANDBOX_GID},mode=0755",
        }
        if limits.disk_mb is not None:
            workspace_options["o"] += f",size={limits.disk_mb}m"
        mounts = [
            DockerMount(
                target=spec.workdir,
                source=None,
                type="volume",
                driver_config=DriverConfig("local", workspace_options),
                labels=self.owner.labels(),
            )
        ]
        mounts += [
            DockerMount(target=m.sandbox_path, source=str(m.host_path), type="bind", read_only=m.read_only)
            for m in spec.mounts
        ]
        if spec.gateway_socket is not None:
            mounts.append(DockerMount(target=GATEWAY_SOCKET_PATH, source=str(spec.gateway_socket), type="bind"))
        return {
            "image": spec.image,
            # The main process is the lifetime cap: when `sleep` ends, the container stops.
            "command": ["sleep", f"{limits.wall_time_s:.0f}"],
            "init": True,
            "network_mode": "none",
            "mem_limit": f"{limits.memory_mb}m",
            "memswap_limit": f"{limits.memory_mb}m",
            "nano_cpus": int(limits.cpus * 1e9),
            "pids_limit": limits.pids,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": spec.read_only_rootfs,
            "tmpfs": {"/tmp": f"size={TMP_SIZE_MB}m,mode=1777"},
            "mounts": mounts,
            "working_dir": spec.workdir,
            "labels": self.owner.labels(),
            "environment": {},
        }

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
        wrapped = ["bash", "-c", GROUP_REAPER, "opendgm-exec", f"{limit:g}", *argv]
        environment = {**self.spec.sandbox_env(), **(env or {})}
        with self._lock:
            return self._run(wrapped, limit, cwd or self.spec.workdir, environment)

    def _run(self, argv: list[str], limit: float, cwd: str, env: dict[str, str]) -> ExecResult:
        api = self._client.api
        cap = self.spec.limits.output_bytes
        stdout, stderr = CappedBuffer(cap), CappedBuffer(cap)
        started = time.monotonic()
        try:
            exec_id = api.exec_create(self.container.id, argv, environment=env, workdir=cwd, user=SANDBOX_USER)["Id"]
            stream = api.exec_start(exec_id, stream=True, demux=True)
        except (APIError, DockerException) as exc:
            raise SandboxError(f"exec failed to start in {self.container.short_id}: {exc}") from exc
        watchdog = _Watchdog(self, stream, limit + KILL_GRACE_S + WATCHDOG_GRACE_S)
        try:
            for out, err in stream:
                if out:
                    stdout.write(out)
                if err:
                    stderr.write(err)
        except (OSError, ValueError, AttributeError):
            if not watchdog.fired:  # the watchdog closing the stream is expected; anything else is not
                raise
        finally:
            watchdog.cancel()
        duration = time.monotonic() - started
        exit_code = api.exec_inspect(exec_id).get("ExitCode")
        exit_code = 137 if exit_code is None else int(exit_code)
        timed_out = watchdog.fired or (exit_code in (124, 137) and duration >= limit)
        oom = exit_code == 137 and not timed_out and self._new_oom_kill()
        return ExecResult(
            exit_code=exit_code,
            stdout=stdout.text(),
            stderr=stderr.text() + ("\n[opendgm: killed: out of memory]\n" if oom else ""),
            timed_out=timed_out,
            duration_s=duration,
            truncated=stdout.truncated or stderr.truncated,
            oom_killed=oom,
        )

    def _new_oom_kill(self) -> bool:
        """Whether the memory cgroup's OOM-kill counter moved since the last look."""
        result = self.container.exec_run(["sh", "-c", OOM_COUNTER_CMD], user=SANDBOX_USER)
        counts = [
            int(line.split()[1])
            for line in result.output.decode(errors="replace").splitlines()
            if line.startswith("oom_kill ")
        ]
        total = max(counts, default=0)
        moved, self._oom_kills = total > self._oom_kills, total
        return moved

    def kill_all_processes(self) -> None:
        """Kill every process of the sandbox user (the main `sleep` runs as root and survives).

        When even that cannot run (no process can be forked), the container itself is killed: the
        sandbox is then lost, which beats hanging forever.
        """
        try:
            if self.container.exec_run(["kill", "-9", "-1"], user=SANDBOX_USER).exit_code in (0, 1):
                return
        except (APIError, DockerException) as exc:
            log.warning("could not kill processes in %s: %s", self.container.short_id, exc)
        log.warning("killing sandbox container %s: a command could not be stopped", self.container.short_id)
        try:
            self.container.kill()
        except (APIError, DockerException) as exc:
            log.warning("could not kill sandbox container %s: %s", self.container.short_id, exc)

    # -- files ---------------------------------------------------------------------------------
    def put_archive(self, dest: str, tar_bytes: bytes) -> None:
        self._ensure_open()
        target, workdir = PurePosixPath(dest), PurePosixPath(self.spec.workdir)
        with self._lock:
            if target.is_relative_to(workdir) and target != workdir:
                # Extract at the workdir (which exists) with entries under the relative path: no mkdir exec.
                tar_bytes, target = with_prefix(tar_bytes, str(target.relative_to(workdir))), workdir
            elif target != workdir:
                made = self.container.exec_run(["mkdir", "-p", dest], user=SANDBOX_USER)
                if made.exit_code != 0:
                    raise SandboxError(f"cannot create {dest} in the sandbox: {made.output.decode().strip()}")
            try:
                self.container.put_archive(str(target), tar_bytes)
            except APIError as exc:
                raise SandboxError(f"cannot copy files to {dest}: {exc.explanation or exc}") from exc

    def get_archive(self, src: str) -> bytes:
        self._ensure_open()
        with self._lock:
            try:
                chunks, _ = self.container.get_archive(src)
                return b"".join(chunks)
            except NotFound as exc:
                raise SandboxError(f"{src} does not exist in the sandbox") from exc

    def stream_archive(self, src: str) -> Iterator[bytes]:
        """The engine's archive of `src`, chunk by chunk; a link at `src` itself is refused, not followed."""
        self._ensure_open()
        try:
            stream, stat = self.container.get_archive(src, chunk_size=STREAM_CHUNK)
        except NotFound as exc:
            raise SandboxError(f"{src} does not exist in the sandbox") from exc
        except (APIError, DockerException) as exc:
            raise SandboxError(f"cannot read {src} from the sandbox: {exc}") from exc
        try:
            if (stat or {}).get("linkTarget"):
                raise SandboxError(f"{src} is a link in the sandbox (to {stat['linkTarget']}), not a folder")
            yield from stream
        finally:
            stream.close()

    def kill_all(self) -> None:
        self.kill_all_processes()

    # -- lifecycle -----------------------------------------------------------------------------
    def _ensure_open(self) -> None:
        if self._closed:
            raise SandboxError("sandbox is closed")

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        try:
            # Force-removal kills the container; v=True also removes its anonymous workspace volume.
            self.container.remove(force=True, v=True)
        except NotFound:
            pass
        except (APIError, DockerException) as exc:
            log.warning("could not remove sandbox container %s (the reaper will): %s", self.container.id, exc)


class _Watchdog:
    """Host-side backstop for a command that outlives its timeout (for example, by escaping `timeout`)."""

    def __init__(self, sandbox: DockerSandbox, stream: object, after_s: float) -> None:
        self.fired = False
        self._sandbox, self._stream = sandbox, stream
        self._timer = threading.Timer(after_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        self._sandbox.kill_all_processes()
        # Processes that escaped may still hold the output pipe open; give them a moment, then hang up.
        time.sleep(1.0)
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    def cancel(self) -> None:
        self._timer.cancel()
