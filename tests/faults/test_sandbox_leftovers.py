"""Issue 13: temporary folders of dead runs are reaped like containers (only ours, only when the owner is
gone), and `reap_own()` removes this process's own containers and folders when a campaign is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from opendgm.sandbox import EngineFailure, Mount, SandboxSpec, open_sandbox, reachable_scratch
from opendgm.sandbox.docker_client import docker_client

OWNER = textwrap.dedent(
    """
    import sys, time
    from contextlib import ExitStack
    from opendgm.sandbox import SandboxSpec, open_sandbox
    from opendgm.sandbox import reachable_scratch
    with ExitStack() as stack:
        folders = [stack.enter_context(reachable_scratch(prefix=p)) for p in ("opendgm-agent-", "odgm-gw-")]
        sandbox = open_sandbox(SandboxSpec(campaign="test-leftovers"), sys.argv[1])
        folders.append(getattr(sandbox, "workspace", None) or folders[0])
        print(*folders, flush=True)
        time.sleep(600)
    """
)


def _start_owner(backend: str) -> tuple[subprocess.Popen[str], list[Path]]:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, backend], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    return owner, [Path(p) for p in owner.stdout.readline().split()]


def test_a_killed_runs_folders_are_reaped_and_nothing_else(local_isolation: None) -> None:
    dead, dead_folders = _start_owner("local")
    alive, alive_folders = _start_owner("local")
    unrelated = Path(tempfile.mkdtemp(prefix="opendgm-agent-"))  # our prefix, but no owner in its name
    try:
        assert all(f.exists() for f in dead_folders + alive_folders)
        os.kill(dead.pid, signal.SIGKILL)
        dead.wait()
        reap = subprocess.run(
            [sys.executable, "-m", "opendgm.cli", "sandbox", "reap"], capture_output=True, text=True, timeout=120
        )
        assert reap.returncode == 0, reap.stderr[-2000:]
        assert not any(f.exists() for f in dead_folders), "the killed run's folders must go"
        assert all(f.exists() for f in alive_folders), "a live process's folders are never touched"
        assert unrelated.exists(), "a folder that does not name its owner is not ours to judge"
    finally:
        alive.kill()
        alive.wait()
        unrelated.rmdir()


REAP_OWN = textwrap.dedent(
    """
    from opendgm.sandbox import SandboxSpec, open_sandbox, reap_own
    from opendgm.sandbox import reachable_scratch
    scratch = reachable_scratch(prefix="odgm-gw-")
    folder = scratch.__enter__()          # left open, as a run stopped by a signal leaves it
    sandbox = open_sandbox(SandboxSpec(campaign="test-reap-own"), "docker")
    print(folder, sandbox.container.id, flush=True)
    reap_own()
    print("reaped", flush=True)
    """
)


@pytest.mark.docker
def test_reap_own_removes_this_process_containers_and_folders(docker_engine: str) -> None:
    run = subprocess.run([sys.executable, "-c", REAP_OWN], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    folder, container = run.stdout.split()[:2]
    assert not Path(folder).exists()
    assert not docker_client().containers.list(all=True, filters={"id": container})


def test_a_local_sandbox_that_cannot_be_set_up_is_an_engine_failure(local_isolation: None) -> None:
    """The agent's code folder vanished (the host's doing): bwrap's own status says it never ran the command."""
    with reachable_scratch(prefix="opendgm-agent-") as scratch:
        code = scratch / "agent"
        code.mkdir()
        spec = SandboxSpec(campaign="test-setup", mounts=[Mount(host_path=code, sandbox_path="/agent")])
        with open_sandbox(spec, "local") as sandbox:
            assert sandbox.exec("ls /agent; exit 1").exit_code == 1, "the code's own failure stays a result"
            code.rmdir()
            with pytest.raises(EngineFailure, match="could not run the command"):
                sandbox.exec("true")
