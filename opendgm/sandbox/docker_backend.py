"""Docker backend: one long-lived, locked-down container per sandbox, driven through docker-py.

Containment: no network, all capabilities dropped, no-new-privileges, memory/CPU/pids caps, read-only
image filesystem, a size-capped tmpfs workspace volume, and `sleep <lifetime>` as the main process so a
container outlives a crashed owner by at most its lifetime. Commands run as an unprivileged user, and
when one ends every process of that user goes with it. A sandbox that runs one command (a grading) can instead
be started waiting for it: the command is then the container's own process (see LAUNCH_ONCE), with no exec.

Failures from outside (the container paused, killed or removed by someone else, the engine gone) raise
EngineFailure, decided from the engine's records (container state, OOMKilled, our own kill records),
never from what the sandboxed code printed.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import re
import secrets
import shlex
import signal
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import PurePosixPath
from typing import cast

from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import DriverConfig
from docker.types import Mount as DockerMount
from docker.utils.socket import frames_iter

from opendgm.sandbox.base import EngineFailure, ExecResult, Sandbox, SandboxError, tar_of_files, with_prefix
from opendgm.sandbox.capture import CappedBuffer
from opendgm.sandbox.docker_client import TRANSPORT_ERRORS, control_client, docker_client, engine_error
from opendgm.sandbox.owner import Owner
from opendgm.sandbox.spec import GATEWAY_SOCKET_PATH, SANDBOX_GID, SANDBOX_UID, SandboxSpec

log = logging.getLogger(__name__)

SANDBOX_USER = f"{SANDBOX_UID}:{SANDBOX_GID}"
# Grace given to coreutils `timeout` to kill the command before the host-side watchdog steps in.
KILL_GRACE_S = 2.0
WATCHDOG_GRACE_S = 5.0
HEALTH_POLL_S = 3.0  # how often a running exec checks that its container is still running, not paused
STATE_SETTLE_S = 2.0  # how long a killed command's container is watched for a stop from outside
TMP_SIZE_MB = 256
DELIVERY_TIMEOUT_S = 120  # sending waiting files into the sandbox and reading tar's answer
ENGINE_ERRORS = (DockerException, *TRANSPORT_ERRORS)
# Runs the command under coreutils `timeout` (killed at the limit) and, when the command ends, kills every
# other process of the sandbox user, setsid'd and double-forked ones included, so no exec outlives itself
# (`kill` is a builtin and kill(-1) spares the caller, so it works even when no process can be forked).
GROUP_REAPER = (
    f'limit=$1; shift; timeout --kill-after={KILL_GRACE_S:g} "$limit" "$@" & pid=$!; '
    'wait "$pid"; rc=$?; kill -KILL -1 2>/dev/null; exit "$rc"'
)
# Files waiting for the workspace go in with the next command, in the same exec: tar reads them from the exec's
# standard input as the sandbox user, then the marker is printed and the command replaces the shell. The command
# cannot print before the marker, so a missing marker means the files did not arrive (never the command's doing).
# The exec starts in the workspace (the command's folder may come with the files) and moves there after.
# tar is found and configured as the image has it, whatever PATH or TAR_OPTIONS the command is given.
DELIVER_THEN_RUN = (
    'PATH=/usr/sbin:/usr/bin:/sbin:/bin TAR_OPTIONS= tar -x -i -p -f - -C "$1" || exit; '
    'printf "%s" "$0"; cd "$2" && shift 2 && exec "$@" </dev/null'
)
DELIVERED = b"[opendgm: files delivered]\n"
# Reads from a plain tmpfs workspace (the engine's archive calls see only volumes): tar as the sandbox user.
READ_MISSING, READ_LINK = 3, 4
READ_ARCHIVE = (
    f'test -L "$1" && exit {READ_LINK}; test -e "$1" || exit {READ_MISSING}; '
    'PATH=/usr/sbin:/usr/bin:/sbin:/bin TAR_OPTIONS= exec tar -c -f - -C "$2" -- "$3"'
)
# A sandbox that runs one command (see `exec(last=True)`): its container's own process, as the sandbox user, is
# this launcher, started ahead of need and waiting (at most the sandbox's lifetime) for one archive on its standard
# input: the files for the workspace and RUN_FILE, which says what to run (limit, folder, argv, environment).
# It runs the command under `timeout`, kills every other process (as PID 1 it cannot itself be signalled from
# inside), then reports the command's status as the very last bytes of its stdout and of its stderr, signed with a
# key drawn for this command (in RUN_FILE, deleted before the command starts) and exits. Nothing can print after
# the report, so once both streams end with it all output is in: the host stops reading there, without waiting
# for the container's end and tear-down (a report without the key, or a stream that ends otherwise, is not it).
RUN_FILE = ".opendgm-run"
LAUNCH_ONCE = (
    'export PATH=/usr/sbin:/usr/bin:/sbin:/bin; run="$2/$3"; '
    'TAR_OPTIONS= timeout "$1" tar -x -i -p -f - -C "$2" && test -f "$run" || exit 125; '
    'printf "%s" "$0"; . "$run"; rm -f "$run"; cd "$dir" && { '
    f'timeout --kill-after={KILL_GRACE_S:g} "$limit" "$@" </dev/null & wait "$!"; }}; '
    'rc=$?; kill -KILL -1 2>/dev/null; report="[opendgm: exit $rc $key]"; echo "$report"; echo "$report" >&2; exit 0'
)
EXIT_REPORT = re.compile(rb"\[opendgm: exit (\d+) ([0-9a-f]{32})\]\n\Z")
UNTOLD = 125  # the last command's status when its report did not end its output
REPORT_TAIL = 64  # bytes held back at the end of each stream of the last command: the report, if it is there
STREAM_CHUNK = 1 << 16
OOM_COUNTER_CMD = "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null"


class DockerSandbox(Sandbox):
    """A sandbox backed by one Docker container (see the module docstring for what it enforces)."""

    backend_name = "docker"
    network_isolated = True

    def __init__(
        self,
        spec: SandboxSpec,
        remover: Callable[[Callable[[], None]], object] | None = None,
        *,
        waiting: bool = False,
    ) -> None:
        """`remover`, when given, runs the container's removal at close (e.g. on a background thread).

        `waiting`: the container is started with the launcher for one command (LAUNCH_ONCE) instead of a keeper:
        when the sandbox's first use is its last command (`exec(last=True)`) it runs as that process, with no
        exec; any other first use replaces the container with a kept one first."""
        super().__init__(spec)
        #: told whether the sandbox's first command is also its last (the pool learns the spec's usage from it)
        self.first_use: Callable[[bool], None] | None = None
        self._used = False
        self._single = False  # the container runs (ran) the sandbox's one command as its own process
        self._remover = remover
        self._on_close: list[Callable[[], None]] = []
        self._pending: list[bytes] = []  # tar archives for the workspace, delivered with the next exec or read
        self._client = docker_client()
        self._api = control_client().api
        self._lock = threading.Lock()
        self._oom_kills = 0
        self._killed_container = False  # our own record: we killed the container (a command could not be stopped)
        self._freezing = False  # our own pause, while kill_all() ends processes from the host
        self._ended_by_us = False  # kill_all() ended the running command
        self.owner = Owner.current(spec.campaign, spec.limits.wall_time_s)
        self._waiting = waiting
        self._create(self._create_kwargs(waiting))
        self._start()
        self._closed = False

    def _create(self, kwargs: dict) -> None:
        spec = self.spec
        try:
            # create + start, never run(): run() would try to pull a missing image from a registry. The low-level
            # create answers the id, all a Container needs here (the high-level one inspects it once more).
            created = self._client.api.create_container(**kwargs)
            self.container = self._client.containers.prepare_model({"Id": created["Id"]})
            self._created_at = time.time()
        except ImageNotFound as exc:
            raise EngineFailure(
                f"sandbox image {spec.image!r} is not present; build it with `opendgm sandbox build`"
            ) from exc
        except ENGINE_ERRORS as exc:
            raise engine_error(exc, f"could not create a Docker sandbox from {spec.image!r}") from exc

    def _start(self) -> None:
        try:
            self._api.start(self._cid)
        except ENGINE_ERRORS as exc:
            self._remove()
            raise engine_error(exc, f"could not start a Docker sandbox from {self.spec.image!r}") from exc

    def _started(self) -> None:
        """A waiting sandbox used for anything but a last command first: its container replaced by a kept one."""
        if self._single:
            raise SandboxError("the sandbox already ran its last command: nothing can be read from it")
        if self._waiting:
            self._remove()
            self._waiting = False
            self._create(self._create_kwargs())
            self._start()

    @property
    def _cid(self) -> str:
        """The engine's id of the container (`Container.id`, which the stubs type as optional)."""
        return self.container.attrs["Id"]

    def _create_kwargs(self, waiting: bool = False) -> dict:
        """The container's settings: a kept one (commands run as execs), or `waiting` for its one command."""
        spec, limits = self.spec, self.spec.limits
        workspace_options = {
            "type": "tmpfs",
            "device": "tmpfs",
            "o": f"uid={SANDBOX_UID},gid={SANDBOX_GID},mode=0755",
        }
        if limits.disk_mb is not None:
            workspace_options["o"] += f",size={limits.disk_mb}m"
        tmpfs = {"/tmp": f"size={TMP_SIZE_MB}m,mode=1777"}
        mounts = []
        if spec.workspace_volume:
            volume = DriverConfig("local", workspace_options)
            mounts.append(
                DockerMount(
                    target=spec.workdir, source=None, type="volume", driver_config=volume, labels=self.owner.labels()
                )
            )
        else:
            tmpfs[spec.workdir] = workspace_options["o"] + ",exec"  # a volume's mount is exec; a tmpfs's is not
        mounts += [
            DockerMount(target=m.sandbox_path, source=str(m.host_path), type="bind", read_only=m.read_only)
            for m in spec.mounts
        ]
        if spec.gateway_socket is not None:
            mounts.append(DockerMount(target=GATEWAY_SOCKET_PATH, source=str(spec.gateway_socket), type="bind"))
        host_config = self._client.api.create_host_config(
            init=not waiting,  # the launcher is PID 1 on purpose (see LAUNCH_ONCE), and ends the container
            network_mode="none",
            mem_limit=f"{limits.memory_mb}m",
            memswap_limit=f"{limits.memory_mb}m",
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=spec.read_only_rootfs,
            tmpfs=tmpfs,
            mounts=mounts,
        )
        kwargs: dict[str, object] = {
            "image": spec.image,
            # The main process is the lifetime cap: when `sleep` ends, the container stops.
            "command": ["sleep", f"{limits.wall_time_s:.0f}"],
            "host_config": host_config,
            "working_dir": spec.workdir,
            "labels": self.owner.labels(),
            "environment": {},
        }
        if waiting:
            launch = [
                "bash",
                "-c",
                LAUNCH_ONCE,
                DELIVERED.decode(),
                f"{limits.wall_time_s:.0f}",
                spec.workdir,
                RUN_FILE,
            ]
            kwargs.update(command=launch, user=SANDBOX_USER, stdin_open=True)
        return kwargs

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
        self._spend(last)
        if not self._used and self.first_use is not None:
            self.first_use(last)
        self._used = True
        limit = float(timeout if timeout is not None else self.spec.limits.exec_timeout_s)
        argv = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        wrapped = ["bash", "-c", GROUP_REAPER, "opendgm-exec", f"{limit:g}", *argv]
        environment = {**self.spec.sandbox_env(), **(env or {})}
        with self._lock:
            files, self._pending = b"".join(self._pending), []
            cwd = cwd or self.spec.workdir
            if last and self._waiting:
                return self._run_single(argv, limit, cwd, environment, files)
            self._started()
            if files:
                wrapped = ["bash", "-c", DELIVER_THEN_RUN, DELIVERED.decode(), self.spec.workdir, cwd, *wrapped]
                cwd = self.spec.workdir
            return self._run(wrapped, limit, cwd, environment, files)

    def _run(self, argv: list[str], limit: float, cwd: str, env: dict[str, str], files: bytes = b"") -> ExecResult:
        """Run `argv`; with `files` (a tar for the workspace), fed to the delivery in front of the command."""
        cap = self.spec.limits.output_bytes
        stdout, stderr = CappedBuffer(cap), CappedBuffer(cap)
        sink = _AfterMarker(stdout) if files else stdout
        started = time.monotonic()
        self._check_usable()
        self._ended_by_us = False
        try:
            exec_id = self._api.exec_create(
                self._cid, argv, environment=env, workdir=cwd, user=SANDBOX_USER, stdin=bool(files)
            )
            stream = (
                self._send(exec_id["Id"], files)
                if files
                else self._api.exec_start(exec_id["Id"], stream=True, demux=True)
            )
        except (OSError, *ENGINE_ERRORS) as exc:
            raise self._failure(exc, "the command could not start") from exc
        watchdog = self._read(stream, sink, stderr, limit)
        duration = time.monotonic() - started
        exit_code = self._exit_code(exec_id["Id"])
        timed_out = watchdog.fired == "timeout" or (exit_code in (124, 137) and duration >= limit)
        killed = exit_code in (None, 137) and not timed_out
        oom = killed and self._new_oom_kill()  # fails as an EngineFailure if the container is gone
        if exit_code is None or (exit_code >= 125 and not timed_out):
            # A kill from outside reaches the command before the engine marks the container stopped.
            settle = STATE_SETTLE_S if killed and not oom and not self._ended_by_us else 0.0
            timed_out = self._stopped_by_its_own_doing(settle) or timed_out
            exit_code = 137 if exit_code is None else exit_code
        return _exec_result(exit_code, stdout, stderr, timed_out, duration, oom)

    def _read(
        self,
        stream: Iterable,
        sink: _AfterMarker | CappedBuffer,
        stderr: CappedBuffer | _Report,
        limit: float,
        until: Callable[[], bool] = lambda: False,
    ) -> _Watchdog:
        """Read a command's output to its end (or `until` says all is in), under a watchdog (returned: whether
        and why it fired)."""
        watchdog = _Watchdog(self, stream, limit + KILL_GRACE_S + WATCHDOG_GRACE_S)
        try:
            for out, err in stream:
                if out:
                    sink.write(out)
                if err:
                    stderr.write(err)
                if until():
                    stream.close()  # type: ignore[attr-defined]  # a _Frames
                    break
        except (OSError, ValueError, AttributeError, *TRANSPORT_ERRORS):
            if watchdog.fired is None:  # the watchdog closing the stream is expected; anything else is not
                raise self._failure(None, "the command's output stream broke") from None
        finally:
            watchdog.cancel()
        if watchdog.fired not in (None, "timeout"):
            raise EngineFailure(f"sandbox container {self.container.short_id} was {watchdog.fired} from outside")
        if isinstance(sink, _AfterMarker) and not sink.seen and watchdog.fired is None:
            said = (sink.head + stderr.text().encode()).decode(errors="replace").strip()[:500]
            raise SandboxError(f"cannot copy files into the sandbox: {said}")
        return watchdog

    def _run_single(self, argv: list[str], limit: float, cwd: str, env: dict[str, str], files: bytes) -> ExecResult:
        """The sandbox's last command as its waiting container's own process: attach, send the files and what to
        run, read, wait: no exec, keeper or init process."""
        self._waiting, self._single = False, True
        key = secrets.token_hex(16)
        run = [f"limit={limit:g}", f"dir={shlex.quote(cwd)}", f"key={key}", shlex.join(["set", "--", *argv])]
        run += [f"export {shlex.quote(f'{name}={value}')}" for name, value in env.items()]
        files += tar_of_files({RUN_FILE: "\n".join(run) + "\n"})  # last: it wins over any file of that name
        cap = self.spec.limits.output_bytes
        stdout, stderr = CappedBuffer(cap), CappedBuffer(cap)
        report, errors = _Report(stdout, key), _Report(stderr, key)
        sink = _AfterMarker(report)
        started = time.monotonic()
        try:
            sock = self._api.attach_socket(self._cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            stream = self._feed(sock, files)
        except (OSError, *ENGINE_ERRORS) as exc:
            raise self._failure(exc, "the command could not start") from exc
        watchdog = self._read(stream, sink, errors, limit, until=lambda: report.ended and errors.ended)
        report.close()
        errors.close()
        duration = time.monotonic() - started
        code = report.code if errors.code == report.code else None
        status = code if code is not None else self._wait()  # without the report: how the container ended
        if code is None and status == 0:  # the launcher ended well, yet its report was not last: output came after
            status = UNTOLD  # it (a process killed mid-write), so the command's own status is not known
        timed_out = watchdog.fired == "timeout" or (code in (124, 137) and duration >= limit)
        oom = False
        if code is None and not timed_out:
            state = self._state()
            if state is None:
                raise EngineFailure(f"sandbox container {self.container.short_id} was removed from outside")
            oom = bool(state.get("OOMKilled"))
            if not oom and self._signalled_from_outside():
                raise EngineFailure(f"sandbox container {self.container.short_id} was stopped from outside")
        elif code == 137 and not timed_out:
            oom = bool((self._state() or {}).get("OOMKilled"))
        return _exec_result(code if code is not None else status, stdout, stderr, timed_out, duration, oom)

    def _wait(self) -> int:
        """The exit status of a container whose command's output has ended."""
        try:
            return int(self._api.wait(self._cid)["StatusCode"])
        except NotFound as exc:
            raise EngineFailure(f"sandbox container {self.container.short_id} was removed from outside") from exc
        except ENGINE_ERRORS as exc:
            raise self._failure(exc, "the command's exit status could not be read") from exc

    def _signalled_from_outside(self) -> bool:
        """Whether the engine recorded a kill, stop or pause of the container (none are ours: a timeout is
        decided before), from its events; else the launcher was ended from inside, by the command's doing."""
        try:
            events = self._api.events(
                since=int(self._created_at) - 1,
                until=int(time.time()) + 1,
                filters={"container": self._cid, "event": ["kill", "stop", "pause"]},
                decode=True,
            )
            return any(True for _ in events)
        except ENGINE_ERRORS as exc:
            raise engine_error(exc, "the sandbox's events could not be read") from exc

    def _exit_code(self, exec_id: str) -> int | None:
        try:
            code = self._api.exec_inspect(exec_id).get("ExitCode")
        except ENGINE_ERRORS as exc:
            raise self._failure(exc, "the command's exit status could not be read") from exc
        return None if code is None else int(code)

    def _state(self) -> dict | None:
        """The container's State from the engine, or None when it no longer exists."""
        try:
            return self._api.inspect_container(self._cid)["State"]
        except NotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise engine_error(exc, "the sandbox container could not be inspected") from exc

    def _check_usable(self) -> None:
        """Before an exec: a container we killed ourselves is the code's doing; otherwise any stop is not."""
        if self._killed_container:
            raise SandboxError("the sandbox was killed earlier because a command could not be stopped")

    def _outside_problem(self, state: dict | None) -> str | None:
        """What someone outside did to the container ("removed", "paused", "stopped"), from its State; None
        when it runs, or when it stopped by its own doing (OOM, its lifetime cap, or our kill)."""
        if state is None:
            return "removed"
        if state.get("Paused"):
            return None if self._freezing else "paused"
        if self._single:
            return None  # its command's end ends it: how it ended is read after (`_run_single`)
        if state.get("Running") or state.get("OOMKilled") or self._killed_container:
            return None
        return None if state.get("ExitCode") == 0 else "stopped"  # 0: the keeper `sleep` ran out

    def health(self) -> str | None:
        """Why the container cannot run commands right now because of someone outside, or None."""
        return self._outside_problem(self._state())

    def _stopped_by_its_own_doing(self, settle_s: float) -> bool:
        """After a command died abnormally: True when the container's lifetime cap ended it; EngineFailure
        when someone outside did. A still-running container is watched for `settle_s` first."""
        deadline = time.monotonic() + settle_s
        while True:
            state = self._state()
            problem = self._outside_problem(state)
            if problem is not None:
                raise EngineFailure(f"sandbox container {self.container.short_id} was {problem} from outside")
            assert state is not None
            if not state.get("Running") or time.monotonic() >= deadline:
                return not state.get("Running") and not state.get("OOMKilled") and not self._killed_container
            time.sleep(0.2)

    def _failure(self, exc: Exception | None, what: str) -> SandboxError:
        """The error for a failed engine call during an exec, from the container's own state."""
        if self._killed_container:
            return SandboxError(f"{what}: the sandbox was killed because a command could not be stopped")
        try:
            problem = self.health()
        except EngineFailure as inspect_failure:
            return inspect_failure
        if problem is not None:
            return EngineFailure(f"{what}: sandbox container {self.container.short_id} was {problem} from outside")
        return engine_error(exc, what) if exc is not None else EngineFailure(what)

    def _new_oom_kill(self) -> bool:
        """Whether the memory cgroup's OOM-kill counter moved since the last look."""
        try:
            result = self.container.exec_run(["sh", "-c", OOM_COUNTER_CMD], user=SANDBOX_USER)
        except ENGINE_ERRORS as exc:
            raise self._failure(exc, "the memory counters could not be read") from exc
        counts = [
            int(line.split()[1])
            # exec_run gives bytes when not streamed; the stubs type the output for both
            for line in result.output.decode(errors="replace").splitlines()  # type: ignore[union-attr]
            if line.startswith("oom_kill ")
        ]
        total = max(counts, default=0)
        moved, self._oom_kills = total > self._oom_kills, total
        return moved

    def kill_all(self) -> None:
        """End every process of the sandbox user; only the container's keeper (root's `sleep`) stays.

        `kill -KILL -1` as that user reaches detached processes too. When it cannot even start (no process
        can be forked), the frozen container's processes are killed from the host (as root), else the
        container itself is killed: the sandbox is then lost, which beats leaving processes running.
        """
        self._ended_by_us = True
        if self._waiting:
            return  # nothing of the sandbox's runs yet (the launcher's own wait must not be ended)
        if self._single:  # the command is the container's: it ends with it
            try:
                self._api.kill(self._cid)
            except NotFound:
                return
            except APIError as exc:
                if exc.status_code != 409:  # 409: it has ended already
                    raise engine_error(exc, "could not end the sandbox's command") from exc
            except ENGINE_ERRORS as exc:
                raise engine_error(exc, "could not end the sandbox's command") from exc
            return
        try:
            exec_id = self._api.exec_create(self._cid, ["kill", "-KILL", "-1"], user=SANDBOX_USER)["Id"]
            self._api.exec_start(exec_id)
            if self._api.exec_inspect(exec_id).get("ExitCode") in (0, 1):
                return
        except NotFound as exc:
            raise EngineFailure(f"sandbox container {self.container.short_id} was removed from outside") from exc
        except APIError as exc:
            if exc.status_code == 409:  # paused or stopped by someone else: nothing we may do about it
                raise self._failure(exc, "could not end the sandbox's processes") from exc
            log.warning("could not kill processes in %s: %s", self.container.short_id, exc)
        except ENGINE_ERRORS as exc:
            raise engine_error(exc, "could not end the sandbox's processes") from exc
        if not self._kill_frozen():
            self._kill_container()

    def _kill_frozen(self) -> bool:
        """Freeze the container, SIGKILL its non-root processes from the host, thaw it (root only)."""
        if os.geteuid() != 0:
            return False
        self._freezing = True
        try:
            self._api.pause(self._cid)
            try:
                listing = self._api.top(self._cid, ps_args="-o pid,uid")
                for pid, uid in listing.get("Processes") or []:
                    if uid.strip() != "0":
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)  # delivered when the container thaws
            finally:
                self._api.unpause(self._cid)
        except ENGINE_ERRORS as exc:
            log.warning("could not end the processes of frozen sandbox %s: %s", self.container.short_id, exc)
            return False
        finally:
            self._freezing = False
        return True

    def _kill_container(self) -> None:
        log.warning("killing sandbox container %s: a command could not be stopped", self.container.short_id)
        self._killed_container = True
        try:
            self._api.kill(self._cid)
        except ENGINE_ERRORS as exc:
            log.warning("could not kill sandbox container %s: %s", self.container.short_id, exc)

    # -- files ---------------------------------------------------------------------------------
    def put_archive(self, dest: str, tar_bytes: bytes) -> None:
        """Files for the workspace wait for the next exec or read, which delivers everything waiting in one
        transfer (an engine copy into a container costs more than the command that follows it); files for
        anywhere else are copied at once."""
        self._ensure_open()
        target, workdir = PurePosixPath(dest), PurePosixPath(self.spec.workdir)
        with self._lock:
            if target.is_relative_to(workdir):
                prefix = str(target.relative_to(workdir))
                self._pending.append(tar_bytes if prefix == "." else with_prefix(tar_bytes, prefix))
                return
            self._started()
            try:
                made = self.container.exec_run(["mkdir", "-p", dest], user=SANDBOX_USER)
            except ENGINE_ERRORS as exc:
                raise self._failure(exc, f"cannot create {dest} in the sandbox") from exc
            if made.exit_code != 0:
                output = made.output.decode().strip()  # type: ignore[union-attr]  # bytes when not streamed
                raise SandboxError(f"cannot create {dest} in the sandbox: {output}")
            try:
                self.container.put_archive(str(target), tar_bytes)
            except ENGINE_ERRORS as exc:
                raise self._failure(exc, f"cannot copy files to {dest}") from exc

    def _send(self, exec_id: str, data: bytes) -> _Frames:
        """Start the exec with `data` on its standard input (then closed); its output, frame by frame."""
        return self._feed(self._api.exec_start(exec_id, socket=True), data)

    @staticmethod
    def _feed(sock: object, data: bytes) -> _Frames:
        """`data` written to an attached socket's standard input (then closed); its output, frame by frame."""
        # a unix-socket engine answers with docker's SocketIO wrapper; the socket is under `_sock`
        raw = cast(socket.socket, getattr(sock, "_sock", sock))
        try:
            raw.settimeout(DELIVERY_TIMEOUT_S)
            raw.sendall(data)
            raw.shutdown(socket.SHUT_WR)
            raw.settimeout(None)  # the command may be silent for as long as its limit: the watchdog bounds it
        except OSError:
            sock.close()  # type: ignore[attr-defined]
            raise
        return _Frames(sock)

    def _deliver(self) -> None:
        """Extract the files waiting for the workspace before a read, in one exec (`true` after the delivery).
        Call with the lock held."""
        if self._pending:
            files, self._pending = b"".join(self._pending), []
            argv = ["bash", "-c", DELIVER_THEN_RUN, DELIVERED.decode(), self.spec.workdir, self.spec.workdir, "true"]
            done = self._run(argv, DELIVERY_TIMEOUT_S, self.spec.workdir, {}, files)
            if not done.ok:
                raise SandboxError(f"cannot copy files into the sandbox: {done.stderr.strip()[:500]}")

    def get_archive(self, src: str) -> bytes:
        """Not serialised with exec: reading files while a command runs is safe (and what a live view needs)."""
        self._ensure_open()
        self._started()
        if self._pending:
            with self._lock:
                self._deliver()
        if self._on_tmpfs(src):
            return b"".join(self._read_by_exec(src))
        try:
            chunks, _ = self.container.get_archive(src)
            return b"".join(chunks)
        except NotFound as exc:
            if self.health() == "removed":
                raise EngineFailure(f"sandbox container {self.container.short_id} was removed") from exc
            raise SandboxError(f"{src} does not exist in the sandbox") from exc
        except ENGINE_ERRORS as exc:
            raise self._failure(exc, f"cannot copy {src} out of the sandbox") from exc

    def stream_archive(self, src: str) -> Generator[bytes, None, None]:
        """The engine's archive of `src`, chunk by chunk; a link at `src` itself is refused, not followed."""
        self._ensure_open()
        self._started()
        if self._pending:
            with self._lock:
                self._deliver()
        if self._on_tmpfs(src):
            yield from self._read_by_exec(src)
            return
        try:
            stream, stat = self.container.get_archive(src, chunk_size=STREAM_CHUNK)
        except NotFound as exc:
            if self.health() == "removed":
                raise EngineFailure(f"sandbox container {self.container.short_id} was removed") from exc
            raise SandboxError(f"{src} does not exist in the sandbox") from exc
        except ENGINE_ERRORS as exc:
            raise self._failure(exc, f"cannot copy {src} out of the sandbox") from exc
        try:
            link = (stat or {}).get("linkTarget")
            if link:
                raise SandboxError(f"{src} is a link in the sandbox (to {link}), not a folder")
            yield from stream
        except ENGINE_ERRORS as exc:
            raise self._failure(exc, f"the copy of {src} out of the sandbox broke off") from exc
        finally:
            stream.close()  # type: ignore[attr-defined]  # a generator: the stubs say Iterator

    def _on_tmpfs(self, src: str) -> bool:
        """Whether `src` lies on a plain tmpfs workspace, which the engine's archive calls cannot see."""
        return not self.spec.workspace_volume and PurePosixPath(src).is_relative_to(self.spec.workdir)

    def _read_by_exec(self, src: str) -> Generator[bytes, None, None]:
        """`src` archived by tar in the sandbox as its user (links archived as links, never followed; a link
        at `src` itself refused), streamed from the exec's stdout."""
        path = PurePosixPath(src)
        argv = ["bash", "-c", READ_ARCHIVE, "opendgm-read", src, str(path.parent), path.name]
        try:
            exec_id = self._api.exec_create(self._cid, argv, user=SANDBOX_USER, workdir="/", environment={})["Id"]
            stream = self._client.api.exec_start(exec_id, stream=True, demux=True)
        except ENGINE_ERRORS as exc:
            raise self._failure(exc, f"cannot copy {src} out of the sandbox") from exc
        said = b""
        try:
            for out, err in stream:
                if out:
                    yield out
                if err:
                    said = (said + err)[:2000]
        except ENGINE_ERRORS as exc:
            raise self._failure(exc, f"the copy of {src} out of the sandbox broke off") from exc
        code = self._exit_code(exec_id)
        if code == READ_MISSING:
            raise SandboxError(f"{src} does not exist in the sandbox")
        if code == READ_LINK:
            raise SandboxError(f"{src} is a link in the sandbox, not a folder")
        if code != 0:
            raise SandboxError(f"cannot copy {src} out of the sandbox: {said.decode(errors='replace').strip()}")

    # -- lifecycle -----------------------------------------------------------------------------
    def _ensure_open(self) -> None:
        if self._closed:
            raise SandboxError("sandbox is closed")

    @property
    def closed(self) -> bool:
        return getattr(self, "_closed", True)

    def on_close(self, action: Callable[[], None]) -> None:
        """Run `action` when the sandbox is closed (once, before its container is removed)."""
        self._on_close.append(action)

    def close(self) -> None:
        if self.closed:
            return
        self._closed = True
        for action in self._on_close:
            action()
        if self._remover is None:
            self._remove()
            return
        try:
            self._remover(self._remove)
        except RuntimeError:  # the background remover is shut down (interpreter exit): remove it here
            self._remove()

    def _remove(self) -> None:
        """Force-remove the container (which kills it) and its workspace volume; a paused one is thawed first
        if removal refuses it. What cannot be removed is left to the reaper (its deadline label)."""
        for attempt in range(2):
            try:
                self._api.remove_container(self._cid, force=True, v=True)
                return
            except NotFound:
                return
            except ENGINE_ERRORS as exc:
                if attempt == 0:
                    with contextlib.suppress(*ENGINE_ERRORS):
                        self._api.unpause(self._cid)
                    continue
                log.warning("could not remove sandbox container %s (the reaper will): %s", self._cid, exc)


class _Frames:
    """An exec's multiplexed output read from its socket as (stdout, stderr) pairs; `close` ends the reading."""

    def __init__(self, sock: object) -> None:
        self._sock = sock

    def __iter__(self) -> Iterator[tuple[bytes | None, bytes | None]]:
        for kind, chunk in frames_iter(self._sock, tty=False):
            yield (chunk, None) if kind == 1 else (None, chunk)
        self.close()

    def close(self) -> None:
        self._sock.close()  # type: ignore[attr-defined]


class _Report:
    """One stream of a sandbox's last command, passed on but for its last REPORT_TAIL bytes, held back until the
    end: the launcher's report of the command's status, signed with `key`, when they end with it (`ended`; its
    status is `code` once closed)."""

    def __init__(self, out: CappedBuffer, key: str) -> None:
        self.out, self.cap, self.key, self.held = out, out.cap, key.encode(), b""
        self.code: int | None = None

    def write(self, chunk: bytes) -> None:
        self.held += chunk
        if len(self.held) > REPORT_TAIL:
            self.out.write(self.held[:-REPORT_TAIL])
            self.held = self.held[-REPORT_TAIL:]

    def text(self) -> str:
        return self.out.text() + self.held.decode(errors="replace")

    @property
    def ended(self) -> bool:
        found = EXIT_REPORT.search(self.held)
        return found is not None and hmac.compare_digest(found[2], self.key)

    def close(self) -> None:
        if self.ended:
            found = EXIT_REPORT.search(self.held)
            assert found is not None
            self.code, self.held = int(found[1]), self.held[: found.start()]
        self.out.write(self.held)
        self.held = b""


class _AfterMarker:
    """Stdout of a command that files were delivered for: the delivery's marker is taken off the front and the
    rest passed on; `seen` once the marker came whole (it is printed only after the files arrived)."""

    def __init__(self, out: CappedBuffer | _Report) -> None:
        self.out, self.head, self.seen = out, b"", False

    def write(self, chunk: bytes) -> None:
        if self.seen:
            self.out.write(chunk)
            return
        self.head += chunk
        if len(self.head) >= len(DELIVERED) and self.head.startswith(DELIVERED):
            self.seen, rest, self.head = True, self.head[len(DELIVERED) :], b""
            if rest:
                self.out.write(rest)
        elif len(self.head) > len(DELIVERED):  # something else came first: the delivery failed; keep what it said
            self.head = self.head[: self.out.cap]


class _Watchdog:
    """Host-side backstop for a running exec: it ends a command that outlives its timeout (one that escaped
    `timeout`) and notices a container paused, stopped or removed from outside. It always closes the stream
    it was given when it fires, whatever else fails, so the reading thread can never hang."""

    def __init__(self, sandbox: DockerSandbox, stream: object, after_s: float) -> None:
        self.fired: str | None = None
        self._sandbox, self._stream = sandbox, stream
        self._deadline = time.monotonic() + after_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="opendgm-exec-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(min(HEALTH_POLL_S, max(self._deadline - time.monotonic(), 0.05))):
            if time.monotonic() >= self._deadline:
                self._fire("timeout")
                return
            try:
                problem = self._sandbox.health()
            except EngineFailure:
                problem = "lost (the engine did not answer)"
            if problem is not None and not self._stop.is_set():
                self._fire(problem)
                return

    def _fire(self, reason: str) -> None:
        self.fired = reason
        try:
            if reason == "timeout":
                self._sandbox.kill_all()
                time.sleep(1.0)  # let escaped processes that hold the output pipe die
        except Exception as exc:  # a kill that fails or times out must not keep the stream open
            log.warning("watchdog could not end the processes of %s: %s", self._sandbox.container.short_id, exc)
        finally:
            close = getattr(self._stream, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def cancel(self) -> None:
        self._stop.set()


def _exec_result(
    exit_code: int, stdout: CappedBuffer, stderr: CappedBuffer, timed_out: bool, duration: float, oom: bool
) -> ExecResult:
    """What a command left, read from its two streams (an exec's or the container's own process)."""
    return ExecResult(
        exit_code=exit_code,
        stdout=stdout.text(),
        stderr=stderr.text() + ("\n[opendgm: killed: out of memory]\n" if oom else ""),
        timed_out=timed_out,
        duration_s=duration,
        truncated=stdout.truncated or stderr.truncated,
        oom_killed=oom,
    )
