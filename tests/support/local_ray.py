"""A real multi-node Ray cluster on this machine, for one test module at a time."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ray
from ray.cluster_utils import Cluster

from tests.support.ray_cluster import free_port


@dataclass
class LocalCluster:
    cluster: Cluster
    nodes: dict[str, Any]  # name: its ray._private.node.Node, to remove it

    def kill(self, name: str) -> None:
        """Kill the node's raylet and every process of it at once, as a machine that dies."""
        self.cluster.remove_node(self.nodes.pop(name), allow_graceful=False)

    def add(self, name: str) -> None:
        self.nodes[name] = self.cluster.add_node(num_cpus=1, resources={name: 1})


@contextmanager
def local_cluster(module: str, nodes: tuple[str, ...], **init: Any) -> Iterator[LocalCluster]:
    """A head that runs no tasks and one worker node per name, each with one CPU and a resource of its name;
    this process is connected to it. `module`'s functions travel by value (test code is not importable there)."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[module])
    if ray.is_initialized():  # a driver talks to one cluster: leave the session's (its tests reconnect by address)
        ray.shutdown()
    head = {"num_cpus": 0, "include_dashboard": False, "gcs_server_port": free_port(),
            "dashboard_agent_listen_port": free_port()}  # fmt: skip
    started = Cluster(initialize_head=True, head_node_args=head)
    local = LocalCluster(started, {})
    try:
        for name in nodes:
            local.add(name)
        ray.init(address=started.address, logging_level="warning", **init)
        yield local
    finally:
        ray.shutdown()
        started.shutdown()


def on(name: str) -> dict[str, Any]:
    """Task options that place a task or actor on the node called `name`, without taking its CPU."""
    return {"num_cpus": 0, "resources": {name: 0.01}}
