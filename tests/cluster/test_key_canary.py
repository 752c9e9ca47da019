"""Attack: an API key in the head's environment must reach the provider only from the nodes' own environment.

A canary key value sits in the environment every node was started with. A campaign runs on the cluster with roles
whose key is named by that variable. The provider must see the key (so the nodes' gateways read it from their own
environment), and the key value must appear in no payload sent to Ray, no result coming back, no object put in
Ray's store, no file of Ray's session directory (its logs included) and no file of the campaign directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opendgm.archive import Archive
from opendgm.cluster.progress import UNIT_EVENT
from tests.support.ray_cluster import CANARY, CampaignRun, LocalCluster

pytestmark = pytest.mark.ray  # the fixtures skip it where Ray is not installed


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
    cluster: LocalCluster, canary_campaign: CampaignRun
) -> None:
    with Archive.open(canary_campaign.root, readonly=True) as archive:
        units = {str(e.data["unit"]).split()[0] for e in archive.events() if e.kind == UNIT_EVENT}
    assert units >= {"task", "self_improve", "validate"}, f"every kind of unit ran on the cluster: {units}"
    keys = {r["headers"].get("authorization") for r in canary_campaign.requests}
    assert keys == {f"Bearer {CANARY}"}, "every call, from the head and from the nodes, carried the nodes' key"
    assert len(canary_campaign.payloads) >= 6, "payloads, results and code packs were recorded"
    secret = CANARY.encode()
    leaks = [index for index, payload in enumerate(canary_campaign.payloads) if secret in payload]
    assert not leaks, f"the key travelled in {len(leaks)} Ray payloads/objects"
    assert not files_with(secret, cluster.temp), "the key is in Ray's session directory"
    assert not files_with(secret, canary_campaign.root), "the key is in the campaign directory"
