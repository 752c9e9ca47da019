"""A real Ray cluster of three nodes on this machine (tests/cluster, the Ray benchmark's smoke test), and the key
canary its nodes are started with.

The canary is put in this process's environment before any node starts, as an operator puts a key in the
environment of `ray start`: the nodes inherit it, and it must reach the model provider from the nodes' gateways
and nowhere else (no payload, no object, nothing in Ray's session directory).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class CampaignRun:
    """What a recorded campaign left: its directory, its stop reason, every Ray payload and the provider's requests."""

    root: Path
    reason: str
    payloads: list[bytes] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


def run_recorded(cluster: LocalCluster, root: Path) -> CampaignRun:
    """An async campaign (HGM's loop) on the cluster, its roles keyed by the canary variable; each payload sent to
    Ray, each result received and each object put in Ray's store is recorded as pickled bytes."""
    from ray import cloudpickle

    from opendgm.cluster.executor import RayExecutor
    from opendgm.evolve.campaign import run_campaign
    from opendgm.evolve.config import CampaignConfig
    from tests.support.scripted_models import CapabilityScript

    run = CampaignRun(root, "")
    send, receive, put = RayExecutor.send, RayExecutor.receive, RayExecutor.put

    def recorded_send(self: RayExecutor, work: Any, item: Any) -> Any:
        run.payloads.append(cloudpickle.dumps((work, item)))
        return send(self, work, item)

    def recorded_receive(self: RayExecutor, ref: Any) -> Any:
        result = receive(self, ref)
        run.payloads.append(cloudpickle.dumps(result))
        return result

    def recorded_put(self: RayExecutor, value: Any) -> Any:
        run.payloads.append(cloudpickle.dumps(value))
        return put(self, value)

    script = CapabilityScript()
    role = {"model": "openai/scripted", "api_base": script.base_url, "api_key_env": CANARY_ENV, "max_tokens": 64,
            "timeout_s": 10}  # fmt: skip
    config = CampaignConfig.model_validate({
        "name": "canary", "seed": 1, "llm": {"roles": {"agent": role, "meta": role}, "retry": {"attempts": 1}},
        "stages": [{"subset": "HumanEval_0,HumanEval_2"}], "mode": "async", "workers": 2,
        "budget": {"task_evaluations": 5}, "sandbox": {"backend": "local"},
        "self_improve": {"timeout_s": 120, "max_steps": 5, "self_test": False},
        "executor": {"kind": "ray", "address": cluster.address},
    })  # fmt: skip
    RayExecutor.send, RayExecutor.receive, RayExecutor.put = recorded_send, recorded_receive, recorded_put
    try:
        run.reason = run_campaign(config, root)
        run.requests = list(script.requests)
    finally:
        RayExecutor.send, RayExecutor.receive, RayExecutor.put = send, receive, put
        script.stop()
    return run
