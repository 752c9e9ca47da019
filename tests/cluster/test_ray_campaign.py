"""The same campaign config on the local executor and on a real three-node Ray cluster: the same archive.

Generations mode must give the same nodes, code hashes and per-task results with the same seed; async mode (whose
interleaving depends on timing) must leave an archive that passes the integrity checks of `opendgm doctor`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from opendgm.archive import Archive
from opendgm.archive.doctor import examine
from opendgm.archive.gitstore import GitStore
from opendgm.cli import main
from opendgm.cluster.progress import UNIT_EVENT
from opendgm.evaluators.self_modification import Rejected
from opendgm.evolve.campaign import run_campaign
from opendgm.sandbox.spec import DEFAULT_IMAGE
from tests.evolve.test_campaign import config
from tests.support.llm_fakes import FakeProvider, Reply, completion
from tests.support.ray_cluster import CampaignRun, LocalCluster
from tests.support.scripted_models import CapabilityScript

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
    settings = config(script, "local", children_per_generation=2, stages=[{"subset": "HumanEval_0"}])  # two at once
    settings.self_improve.self_test = False
    assert run_campaign(settings, tmp_path / "local") == "done: 1 generations"
    on_ray = settings.model_copy(update={"executor": settings.executor.model_copy(
        update={"kind": "ray", "address": cluster.address})})  # fmt: skip
    assert run_campaign(on_ray, tmp_path / "ray") == "done: 1 generations"
    local, remote = fingerprint(tmp_path / "local"), fingerprint(tmp_path / "ray")
    assert remote == local
    assert any(result[5] == "resolved" for result in remote[1]), "the child solved tasks on the nodes"
    with Archive.open(tmp_path / "ray", readonly=True) as archive:
        where = {e.data["where"] for e in archive.events() if e.kind == UNIT_EVENT}
        spent = archive.ledger.totals()
    assert len(where) >= 2, f"the units spread over the cluster's nodes: {where}"
    assert spent.calls > 0 and spent.cost_usd > 0, "the nodes' model calls are in the head's ledger"
    assert examine(tmp_path / "ray") == []


def test_async_mode_on_the_cluster_leaves_a_sound_archive(canary_campaign: CampaignRun) -> None:
    assert canary_campaign.reason.startswith(("task evaluations:", "nodes:", "done:")), canary_campaign.reason
    assert examine(canary_campaign.root) == []
    with Archive.open(canary_campaign.root, readonly=True) as archive:
        rows = {r.id: r for node in archive.nodes(kind="agent") for r in archive.results(node.id)}  # shared by code
        assert any(node.operator == "self_improve" for node in archive.nodes(kind="agent"))
    keys = [(r.code_hash, r.evaluator_version, r.task_id, r.attempt) for r in rows.values()]
    assert keys and len(keys) == len(set(keys)), "no result recorded twice"


def test_a_unit_fails_on_a_node_as_it_would_here(cluster: LocalCluster, local_isolation: None, tmp_path: Path) -> None:
    """The executor's own contract on the cluster, and a node's verdict (a child that does not compile) coming back
    as the same exception, with the rule that rejected it."""
    from opendgm.cluster import worker
    from opendgm.cluster.config import ExecutorConfig
    from opendgm.cluster.executor import RayExecutor
    from opendgm.cluster.units import CodeRef, Sandboxing, ValidateUnit

    executor = RayExecutor(ExecutorConfig(kind="ray", address=cluster.address))
    try:
        assert executor.submit(abs, -3).result(timeout=120) == 3
        results = dict(executor.map_unordered(int, ["1", "x"]))
        assert results["1"] == 1 and isinstance(results["x"], ValueError)
        broken = tmp_path / "agent"
        broken.mkdir()
        (broken / "agent.py").write_text("def broken(:\n")
        with GitStore.scratch() as store:
            tree = store.commit_dir(broken, None, "broken")[1]
            code = CodeRef(tree, executor.put(store.pack_tree(tree)))
        unit = ValidateUnit("units", "n1", code, self_test=False, sandbox=Sandboxing("local", DEFAULT_IMAGE, 512))
        with pytest.raises(Rejected, match="does not compile") as rejected:
            executor.receive(executor.send(worker.run_validate, unit))
        assert rejected.value.rule == "compile"
    finally:
        executor.shutdown()


def test_opendgm_evaluate_runs_its_tasks_on_the_cluster(
    cluster: LocalCluster, local_isolation: None, fake_provider: FakeProvider, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    fake_provider.default = Reply(body=completion("Done.\n```bash\nsubmit\n```"))  # each task ends at once
    models = tmp_path / "models.yaml"
    models.write_text(
        f"roles:\n  agent: {{model: openai/scripted, api_base: '{fake_provider.base_url}', max_tokens: 64}}\n"
    )
    argv = [
        "opendgm",
        "evaluate",
        "seed",
        "--subset",
        "HumanEval_0,HumanEval_2",
        "--backend",
        "local",
        "--models",
        str(models),
        "--campaign",
        str(tmp_path / "c"),
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code in (0, None)
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        (node,) = archive.nodes(kind="agent")
        assert {r.task_id for r in archive.results(node.id)} == {"HumanEval_0", "HumanEval_2"}
        ran = [e.data for e in archive.events() if e.kind == UNIT_EVENT]
        assert {unit["unit"] for unit in ran} == {"task HumanEval_0", "task HumanEval_2"}
        assert archive.cost(node.id).calls > 0, "the nodes' model calls are in the head's ledger"
