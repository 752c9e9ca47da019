"""A real Ray cluster of three nodes on this machine, and the key canary its nodes are started with.

The canary is put in this process's environment before any node starts, as an operator puts a key in the
environment of `ray start`: the nodes inherit it, and it must reach the model provider from the nodes' gateways
and nowhere else (no payload, no object, nothing in Ray's session directory).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

CANARY_ENV = "OPENDGM_CANARY_API_KEY"
CANARY = "sk-canary-4f1d9e2b7c6a5e3d8b0f"


def free_port() -> int:
    """A port free now (other clusters may run on this machine: Ray's fixed defaults would collide)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalCluster:
    """A head and worker nodes of one CPU each (so units spread over them), in a session directory of their own."""

    def __init__(self, nodes: int = 3) -> None:
        from ray.cluster_utils import Cluster

        os.environ[CANARY_ENV] = CANARY  # before any node starts: its environment carries the key
        self.temp = Path(tempfile.mkdtemp(prefix="odgr-", dir="/tmp"))
        head = {"num_cpus": 1, "temp_dir": str(self.temp), "include_dashboard": False, "gcs_server_port": free_port(),
                "dashboard_agent_listen_port": free_port()}  # fmt: skip
        self.cluster = Cluster(initialize_head=True, head_node_args=head)
        for _ in range(nodes - 1):
            self.cluster.add_node(num_cpus=1)
        self.cluster.wait_for_nodes()
        self.address = self.cluster.address

    def shutdown(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        self.cluster.shutdown()
        shutil.rmtree(self.temp, ignore_errors=True)
