"""A real multi-node Ray cluster on this machine, for one test module at a time."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray
from ray.cluster_utils import Cluster


@contextmanager
def local_cluster(module: str, nodes: tuple[str, ...], **init: Any) -> Iterator[Cluster]:
    """A head that runs no tasks and one worker node per name, each with one CPU and a resource of its name;
    this process is connected to it. `module`'s functions travel by value (test code is not importable there)."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[module])
    started = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        for name in nodes:
            started.add_node(num_cpus=1, resources={name: 1})
        ray.init(address=started.address, logging_level="warning", **init)
        yield started
    finally:
        ray.shutdown()
        started.shutdown()


def on(name: str) -> dict[str, Any]:
    """Task options that place a task or actor on the node called `name`, without taking its CPU."""
    return {"num_cpus": 0, "resources": {name: 0.01}}
