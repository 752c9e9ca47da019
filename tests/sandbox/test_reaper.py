"""Abandoned sandboxes are removed at the next start-up; nothing that is not ours is ever touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from opendgm.sandbox import SandboxSpec, open_sandbox
from opendgm.sandbox.docker_client import docker_client
from opendgm.sandbox.owner import LABEL_DEADLINE, LABEL_PID, LABEL_PID_START, Owner, abandoned
from opendgm.sandbox.reaper import reap_abandoned_sandboxes
from tests.support.containers import exists as container_exists

OWNER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from opendgm.sandbox import SandboxSpec, open_sandbox
    sandbox = open_sandbox(SandboxSpec(campaign="test-orphans"), "docker")
    print(sandbox.container.id, flush=True)
    time.sleep(600)
    """
)
NEXT_STARTUP = (
    "from opendgm.sandbox import SandboxSpec, open_sandbox\n"
    "open_sandbox(SandboxSpec(campaign='test-orphans-next'), 'docker').close()\n"
)


@pytest.mark.docker
def test_sigkilled_owner_leaves_nothing_behind_and_unrelated_containers_survive(docker_engine: str) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER_SCRIPT], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    orphan = owner.stdout.readline().strip()
    unrelated = docker_client().containers.create(docker_engine, ["sleep", "600"], network_mode="none")
    unrelated.start()
    try:
        assert orphan and container_exists(orphan)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        assert container_exists(orphan), "SIGKILL gives the owner no chance to clean up"
        subprocess.run([sys.executable, "-c", NEXT_STARTUP], check=True, timeout=120)
        assert not container_exists(orphan), "the next start-up must remove the dead owner's container"
        unrelated.reload()
        assert unrelated.status == "running", "an unlabelled container must never be touched"
    finally:
        unrelated.remove(force=True)
        if container_exists(orphan):
            docker_client().containers.get(orphan).remove(force=True, v=True)


@pytest.mark.docker
def test_live_owner_is_kept_until_its_deadline(docker_engine: str) -> None:
    with open_sandbox(SandboxSpec(image=docker_engine, campaign="test-deadline"), "docker") as live:
        reap_abandoned_sandboxes()
        assert container_exists(live.container.id), "a sandbox whose owner is alive must be kept"
    expired = Owner.current("test-deadline", lifetime_s=-1).labels()
    stale = docker_client().containers.create(docker_engine, ["sleep", "600"], labels=expired)
    try:
        removed = reap_abandoned_sandboxes()
        assert stale.short_id in {r.container for r in removed}
        assert {r.reason for r in removed if r.container == stale.short_id} == {"deadline passed"}
    finally:
        if container_exists(stale.id):
            stale.remove(force=True)


def test_ownership_rules() -> None:
    mine = Owner.current("c", lifetime_s=60).labels()
    assert abandoned(mine) is None
    assert abandoned({}) is None, "unlabelled things are never ours to judge"
    assert abandoned({**mine, LABEL_DEADLINE: f"{time.time() - 1:.0f}"}) == "deadline passed"
    assert abandoned({**mine, LABEL_PID_START: "0"}) == "owner gone", "a reused pid is not the owner"
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert abandoned({**mine, LABEL_PID: str(dead.pid)}) == "owner gone"
    assert abandoned({**mine, LABEL_DEADLINE: "soon"}) == "unreadable deadline"
