"""The same campaign config on the local executor and on a real three-node Ray cluster: the same archive.

Generations mode must give the same nodes, code hashes and per-task results with the same seed; async mode (whose
interleaving depends on timing) must leave an archive that passes the integrity checks of `opendgm doctor`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_support import LocalCluster
from scripted_models import CapabilityScript
from test_campaign import config

from opendgm.archive import Archive
from opendgm.archive.doctor import examine
from opendgm.cluster.progress import UNIT_EVENT
from opendgm.evolve.campaign import Campaign

pytestmark = pytest.mark.ray  # the `cluster` fixture skips these tests where Ray is not installed


def fingerprint(root: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """What must not depend on the executor: every node, and every result with its key and verdict."""
    with Archive.open(root, readonly=True) as archive:
        nodes = archive.nodes()
        seqs = {node.id: node.seq for node in nodes}
        shape = [(n.seq, n.kind, seqs.get(n.parent_id or ""), n.operator, n.status, n.code_hash) for n in nodes]
        results = sorted(
            (
                r.code_hash,
                r.task_id,
                r.evaluator,
                r.evaluator_version,
                r.attempt,
                r.status,
                r.tests_passed,
                r.tests_failed,
            )
            for node in nodes
            if node.kind == "agent"
            for r in archive.results(node.id)
        )
    return shape, results


def test_generations_give_the_same_archive_on_the_cluster(
    cluster: LocalCluster, local_isolation: None, script: CapabilityScript, tmp_path: Path
) -> None:
    settings = config(script, "local", generations=2)
    assert Campaign(settings, tmp_path / "local").run() == "done: 2 generations"
    on_ray = settings.model_copy(update={"executor": settings.executor.model_copy(
        update={"kind": "ray", "address": cluster.address})})  # fmt: skip
    assert Campaign(on_ray, tmp_path / "ray").run() == "done: 2 generations"
    local, remote = fingerprint(tmp_path / "local"), fingerprint(tmp_path / "ray")
    assert remote == local
    assert any(result[5] == "resolved" for result in remote[1]), "the child solved tasks on the nodes"
    with Archive.open(tmp_path / "ray", readonly=True) as archive:
        where = {e.data["where"] for e in archive.events() if e.kind == UNIT_EVENT}
        spent = archive.ledger.totals()
    assert len(where) >= 2, f"the units spread over the cluster's nodes: {where}"
    assert spent.calls > 0 and spent.cost_usd > 0, "the nodes' model calls are in the head's ledger"
    assert examine(tmp_path / "ray") == []


def test_async_mode_on_the_cluster_leaves_a_sound_archive(
    cluster: LocalCluster, local_isolation: None, script: CapabilityScript, tmp_path: Path
) -> None:
    settings = config(script, "local", mode="async", workers=2, budget={"task_evaluations": 6})
    settings = settings.model_copy(update={"executor": settings.executor.model_copy(
        update={"kind": "ray", "address": cluster.address})})  # fmt: skip
    reason = Campaign(settings, tmp_path / "c").run()
    assert reason.startswith(("task evaluations:", "nodes:", "done:")), reason
    assert examine(tmp_path / "c") == []
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        keys = [(r.code_hash, r.task_id, r.attempt) for n in archive.nodes(kind="agent") for r in archive.results(n.id)]
        assert keys and len(keys) == len(set(keys)), "no result recorded twice"
        assert any(e.kind == UNIT_EVENT for e in archive.events())
