"""Faults of a Ray worker node (issue 16): what a killed worker leaves on its node is reaped when the node's next
worker starts, and nothing that is not ours, or whose owner lives, is touched."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

ray = pytest.importorskip("ray")
from docker.errors import NotFound  # noqa: E402
from local_ray import LocalCluster, local_cluster, on  # noqa: E402

from opendgm.cluster.node_start import runtime_env  # noqa: E402
from opendgm.sandbox import SandboxSpec, open_sandbox  # noqa: E402
from opendgm.sandbox.docker_client import docker_client  # noqa: E402
from opendgm.sandbox.factory import docker_housekeeping  # noqa: E402

pytestmark = pytest.mark.ray

VICTIM = "victim"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster(__name__, (VICTIM,), runtime_env=runtime_env()) as started:
        yield started


class SandboxHolder:
    """A worker on a node that holds a Docker sandbox open, as an evaluation in progress does."""

    def open(self, image: str) -> tuple[int, str]:
        self.sandbox = open_sandbox(SandboxSpec(image=image, campaign="ray-orphans"), "docker")
        return os.getpid(), self.sandbox.container.id


def _reaped_at_start() -> bool:
    """On a worker that opened no sandbox: whether it reaped its node's abandoned ones when it started."""
    return docker_housekeeping.cache_info().currsize == 1


def _exists(container_id: str) -> bool:
    try:
        docker_client().containers.get(container_id)
    except NotFound:
        return False
    return True


def _node_of(cluster: LocalCluster, resource: str) -> object:
    return next(node for node in cluster.worker_nodes if resource in (node.resource_spec.resources or {}))


@pytest.mark.docker
def test_a_killed_workers_sandboxes_are_reaped_when_its_nodes_next_worker_starts(
    cluster: LocalCluster, docker_engine: str
) -> None:
    holder = ray.remote(SandboxHolder).options(**on(VICTIM)).remote()
    pid, orphan = ray.get(holder.open.remote(docker_engine), timeout=120)
    foreign = docker_client().containers.create(docker_engine, ["sleep", "600"], network_mode="none")
    foreign.start()
    live = open_sandbox(SandboxSpec(image=docker_engine, campaign="ray-orphans-live"), "docker")
    try:
        os.kill(pid, signal.SIGKILL)  # the worker dies with no chance to clean up, and its node with it
        cluster.kill(VICTIM)
        assert _exists(orphan), "nobody was left on the node to remove the sandbox"

        cluster.add(VICTIM)  # the node comes back
        started = time.monotonic()
        reaped = ray.get(ray.remote(_reaped_at_start).options(**on(VICTIM)).remote(), timeout=120)

        assert reaped, "the node's next worker reaps when it starts, before any sandbox of its own"
        assert not _exists(orphan), "the dead worker's sandbox must be reaped when the node's next worker starts"
        foreign.reload()
        assert foreign.status == "running", "a container opendgm did not start must never be touched"
        assert _exists(live.container.id), "a sandbox whose owner lives must be kept"
        assert time.monotonic() - started < 60
    finally:
        live.close()
        foreign.remove(force=True)
        if _exists(orphan):
            docker_client().containers.get(orphan).remove(force=True, v=True)
