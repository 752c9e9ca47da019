"""Attack: an API key in the head's environment must reach the provider only from the nodes' own environment.

A canary key value sits in the environment every node was started with. A campaign runs on the cluster with a role
whose key is named by that variable. The provider must see the key (so the nodes' gateways read it from their own
environment), and the key value must appear in no payload sent to Ray, no result coming back, no object put in
Ray's store, no file of Ray's session directory (its logs included) and no file of the campaign directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cluster_support import CANARY, CANARY_ENV, LocalCluster
from scripted_models import CapabilityScript

from opendgm.archive import Archive
from opendgm.cluster.progress import UNIT_EVENT
from opendgm.evolve.campaign import Campaign
from opendgm.evolve.config import CampaignConfig

pytestmark = pytest.mark.ray
ray_executor = pytest.importorskip("opendgm.cluster.executor", reason="the `ray` extra is not installed")


def files_with(secret: bytes, root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                data = path.read_bytes()
            except OSError:
                continue  # a socket, or a file removed while we walked
            if secret in data:
                found.append(str(path.relative_to(root)))
    return found


def test_a_key_reaches_the_provider_only_through_the_nodes_environment(
    cluster: LocalCluster, local_isolation: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray import cloudpickle

    seen: list[bytes] = []
    executor = ray_executor.RayExecutor
    send, receive, put = executor.send, executor.receive, executor.put

    def recorded_send(self: Any, work: Any, item: Any) -> Any:
        seen.append(cloudpickle.dumps((work, item)))
        return send(self, work, item)

    def recorded_receive(self: Any, ref: Any) -> Any:
        result = receive(self, ref)
        seen.append(cloudpickle.dumps(result))
        return result

    def recorded_put(self: Any, value: Any) -> Any:
        seen.append(cloudpickle.dumps(value))
        return put(self, value)

    monkeypatch.setattr(executor, "send", recorded_send)
    monkeypatch.setattr(executor, "receive", recorded_receive)
    monkeypatch.setattr(executor, "put", recorded_put)
    script = CapabilityScript()
    try:
        role = {"model": "openai/scripted", "api_base": script.base_url, "api_key_env": CANARY_ENV, "max_tokens": 64,
                "timeout_s": 10}  # fmt: skip
        config = CampaignConfig.model_validate({
            "name": "canary", "seed": 1, "llm": {"roles": {"agent": role, "meta": role}, "retry": {"attempts": 1}},
            "stages": [{"subset": "HumanEval_0"}], "generations": 1, "children_per_generation": 1,
            "sandbox": {"backend": "local"}, "self_improve": {"timeout_s": 120, "max_steps": 5},
            "executor": {"kind": "ray", "address": cluster.address},
        })  # fmt: skip
        assert Campaign(config, tmp_path / "c").run() == "done: 1 generations"
        requests = list(script.requests)
    finally:
        script.stop()
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        units = [e.data for e in archive.events() if e.kind == UNIT_EVENT]
    assert {unit["unit"] for unit in units} >= {"task HumanEval_0", "self_improve", "validate"}, units
    keys = {r["headers"].get("authorization") for r in requests}
    assert keys == {f"Bearer {CANARY}"}, "every call, from the head and from the nodes, carried the nodes' key"
    assert len(seen) >= 6, "payloads, results and code packs were captured"
    secret = CANARY.encode()
    leaks = [index for index, payload in enumerate(seen) if secret in payload]
    assert not leaks, f"the key travelled in {len(leaks)} Ray payloads/objects"
    assert not files_with(secret, cluster.temp), "the key is in Ray's session directory"
    assert not files_with(secret, tmp_path / "c"), "the key is in the campaign directory"
