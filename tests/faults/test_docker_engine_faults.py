"""Issue 13, item 5: a paused, killed, removed or vanishing container never hangs or crashes opendgm, and
whether a command failed by its own doing or from outside is decided from the engine's records.

Every container touched here is created by the test itself (foreign-looking labels included).
"""

from __future__ import annotations

import contextlib
import importlib
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from docker.errors import NotFound

from opendgm.sandbox import (
    DEFAULT_IMAGE,
    EngineFailure,
    ExecResult,
    Limits,
    SandboxSpec,
    open_sandbox,
    reaper,
)
from opendgm.sandbox.docker_client import docker_client
from opendgm.sandbox.owner import Owner

pytestmark = pytest.mark.docker
SPEC = SandboxSpec(image=DEFAULT_IMAGE, limits=Limits(memory_mb=256, exec_timeout_s=120), campaign="test-faults")


def _in_background(action: Callable[[], ExecResult]) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _wait_running(sandbox: object, command: str = "sleep 100") -> None:
    """Wait until `command` runs in the container, asking the engine (the sandbox's lock is held by the exec)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        processes = docker_client().api.top(sandbox.container.id)["Processes"]  # type: ignore[attr-defined]
        if any(row[-1] == command for row in processes):
            return
        time.sleep(0.2)
    raise AssertionError("the command never started")


def test_pause_racing_an_exec_is_an_engine_failure_not_a_hang(docker_engine: str) -> None:
    with open_sandbox(SPEC, "docker") as sandbox:
        thread, outcome = _in_background(lambda: sandbox.exec("sleep 100", timeout=100))
        _wait_running(sandbox)
        sandbox.container.pause()  # from outside: the test, not the sandbox, pauses it
        started = time.monotonic()
        thread.join(60)
        assert outcome, "exec still blocked 60 s after its container was paused"
        assert isinstance(outcome[0], EngineFailure) and "paused" in str(outcome[0]), outcome
        assert time.monotonic() - started < 60
        with pytest.raises(EngineFailure, match="paused"):
            sandbox.exec("true")  # an exec on a paused container: the engine's 409, not the code's failure
    # close() removed the paused container, without hanging
    with pytest.raises(NotFound):
        docker_client().containers.get(sandbox.container.id)


def test_container_killed_from_outside_is_an_engine_failure(docker_engine: str) -> None:
    with open_sandbox(SPEC, "docker") as sandbox:
        thread, outcome = _in_background(lambda: sandbox.exec("sleep 100", timeout=100))
        _wait_running(sandbox)
        subprocess.run(["docker", "kill", sandbox.container.id], check=True, capture_output=True)
        thread.join(60)
    assert outcome and isinstance(outcome[0], EngineFailure), outcome
    assert "outside" in str(outcome[0])


def test_container_removed_from_outside_is_an_engine_failure(docker_engine: str) -> None:
    with open_sandbox(SPEC, "docker") as sandbox:
        thread, outcome = _in_background(lambda: sandbox.exec("sleep 100", timeout=100))
        _wait_running(sandbox)
        subprocess.run(["docker", "rm", "-f", sandbox.container.id], check=True, capture_output=True)
        thread.join(60)
    assert outcome and isinstance(outcome[0], EngineFailure), outcome


def test_out_of_memory_is_the_codes_own_doing(docker_engine: str) -> None:
    hog = "python3 -c \"chunks = []\nwhile True: chunks.append(b'x' * 10_000_000)\""
    with open_sandbox(SPEC, "docker") as sandbox:
        result = sandbox.exec(hog, timeout=60)
        assert result.oom_killed and result.status == "out-of-memory", result
        assert sandbox.exec("echo still here").stdout == "still here\n"


def test_engine_that_does_not_answer_is_an_engine_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    # the module, not the face's function of the same name
    client_module = importlib.import_module("opendgm.sandbox.docker_client")

    def forget_clients() -> None:
        client_module.docker_client.cache_clear()
        client_module.control_client.cache_clear()

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/opendgm-no-engine.sock")
    forget_clients()
    try:
        with pytest.raises(EngineFailure, match="no engine answers"):
            open_sandbox(SPEC, "docker")
    finally:
        monkeypatch.delenv("DOCKER_HOST")
        forget_clients()


def test_watchdog_closes_its_stream_even_when_every_kill_fails(
    docker_engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logic test next to the real pause tests: the kill inside the watchdog times out (as a blocking kill of
    a stuck container does), yet the stream is closed and the exec returns, as a timeout."""
    from opendgm.sandbox import docker_backend

    def stuck(*_args: object, **_kwargs: object) -> None:
        raise requests.exceptions.ReadTimeout("simulated: the engine did not answer the kill")

    # a command that escaped `timeout` (here: never put under it), so only the watchdog can end it
    monkeypatch.setattr(docker_backend, "GROUP_REAPER", 'shift; exec "$@"')
    monkeypatch.setattr(docker_backend, "WATCHDOG_GRACE_S", 0.5)
    with open_sandbox(SPEC, "docker") as sandbox:
        monkeypatch.setattr(sandbox, "kill_all", stuck)
        started = time.monotonic()
        result = sandbox.exec("echo started; sleep 100", timeout=1)
        assert result.timed_out and result.stdout == "started\n", result
        assert time.monotonic() - started < 60


# -- start-up reaping ------------------------------------------------------------------------------
FOREIGN_OWNER = "import time; time.sleep(600)"


@pytest.fixture
def paused_foreign_containers(docker_engine: str) -> Iterator[tuple[object, object]]:
    """Two paused containers labelled as another opendgm process's: one whose owner lives, one whose owner died."""
    live_owner = subprocess.Popen([sys.executable, "-c", FOREIGN_OWNER])
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    containers = []
    for pid in (live_owner.pid, dead_owner.pid):
        labels = Owner.current("test-foreign", 600).labels()
        labels |= {"org.opendgm.pid": str(pid), "org.opendgm.pid-start": _start(pid) or "0"}
        container = docker_client().containers.create(docker_engine, ["sleep", "600"], labels=labels)
        container.start()
        container.pause()
        containers.append(container)
    try:
        yield containers[0], containers[1]
    finally:
        live_owner.kill()
        live_owner.wait()
        for container in containers:
            try:
                container.reload()
                if container.status == "paused":
                    container.unpause()
                container.remove(force=True)
            except NotFound:
                pass


def _start(pid: int) -> str | None:
    from opendgm.sandbox.owner import process_start_ticks

    return process_start_ticks(pid)


def test_start_up_with_paused_containers_of_other_processes(paused_foreign_containers) -> None:
    alive, dead = paused_foreign_containers
    startup = textwrap.dedent(
        """
        from opendgm.sandbox import SandboxSpec, open_sandbox
        with open_sandbox(SandboxSpec(campaign='test-foreign-startup'), 'docker') as s:
            print(s.exec('echo up').stdout, end='')
        """
    )
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-c", startup], capture_output=True, text=True, timeout=110)
    assert run.returncode == 0 and run.stdout == "up\n", run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert time.monotonic() - started < 100
    alive.reload()
    assert alive.status == "paused", "a live owner's container is never touched, paused or not"
    with pytest.raises(NotFound):
        dead.reload()  # a dead owner's paused container is thawed and removed


def test_reaper_tolerates_containers_vanishing_between_list_and_inspect(
    docker_engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another opendgm process removes abandoned containers at the same moment as this one."""
    dead = Owner.current("test-vanish", lifetime_s=-1).labels()  # deadline passed: abandoned
    made = [docker_client().containers.create(docker_engine, ["sleep", "600"], labels=dead) for _ in range(3)]
    api = docker_client().api
    real_list = api.containers

    def list_then_a_rival_reaps(*args, **kwargs):  # the rival acts between our list and our inspects
        listed = real_list(*args, **kwargs)
        for container in made[:2]:
            real_remove(container.id, force=True)
        return listed

    real_remove = api.remove_container
    monkeypatch.setattr(api, "containers", list_then_a_rival_reaps)
    try:
        removed = reaper.reap_abandoned_sandboxes()
        assert made[2].short_id in {r.container for r in removed}
    finally:
        for container in made:
            with contextlib.suppress(NotFound):
                container.remove(force=True)


def test_kill_all_falls_back_to_freezing_when_no_process_can_start(
    docker_engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When `kill` cannot be started inside (every pid taken), the container is frozen, its sandbox-user
    processes are killed from the host and it is thawed; the keeper survives and the sandbox stays usable."""
    from docker.errors import APIError

    with open_sandbox(SPEC, "docker") as sandbox:
        thread, outcome = _in_background(lambda: sandbox.exec("setsid sleep 300 & sleep 100", timeout=100))
        _wait_running(sandbox)
        real_exec_create = sandbox._api.exec_create

        def cannot_fork(container: str, cmd: list[str], **kwargs: object) -> dict:
            if cmd[:2] == ["kill", "-KILL"]:
                raise APIError("simulated: OCI runtime exec failed: resource temporarily unavailable")
            return real_exec_create(container, cmd, **kwargs)

        monkeypatch.setattr(sandbox._api, "exec_create", cannot_fork)
        sandbox.kill_all()
        thread.join(60)
        assert outcome and isinstance(outcome[0], ExecResult), outcome
        left = [row[-1] for row in docker_client().api.top(sandbox.container.id)["Processes"]]
        assert not any("sleep 100" in c or "sleep 300" in c for c in left), left
        monkeypatch.undo()
        assert sandbox.exec("echo usable").stdout == "usable\n"
