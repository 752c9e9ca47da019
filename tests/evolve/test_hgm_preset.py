"""The HGM preset (examples/hgm-swebench.yaml) as shipped, run with a scripted model to its budget on real Docker
sandboxes: `mode: async`, HGM's expansion filter on a node's own mean, its initial expansions, its cool-down, the
best-belief final agent, the `dgm-initial` seed calling its tools and the swebench evaluator.

The tasks are two copies of the mini SWE-bench instance (the preset's two stages); one states a hint, with which the
scripted model fixes the bug whatever the agent, so the seed solves one task of two (an own success: HGM may expand
it). Its children learn the notation (their prompt gains SKILL) and solve every task. The archive must follow HGM's
rules: every expansion from a node with an own success, the expand/evaluate rule and the cool-down counting
evaluations without the seed's, the run stopped by its task-evaluation budget, and `status`, `tree` and `export`
naming the best-belief agent."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from docker.errors import ImageNotFound
from typer.testing import CliRunner

from opendgm.archive import Archive
from opendgm.archive.best import best_agent
from opendgm.cli import app
from opendgm.evolve import entries
from opendgm.evolve.campaign import run_campaign
from opendgm.sandbox.docker_client import docker_client
from tests.evaluators.test_swebench import IMAGE
from tests.evolve.test_dgm_presets import HIDDEN_TEST, preset, roman_script, swebench_dataset
from tests.evolve.test_hgm_campaign import expansions_follow_hgm

WORKERS = 4  # HGM's first expansions: min(5, int(4 ** 0.6)) = 2, made before any child has a result
BUDGET = 8  # every result counts (the seed's 2 + 6 more); HGM's rules count the 6 alone: a third expansion once the
# two children's 4 tasks are in (4 ** 0.6 >= 2 children), tau = 6 / (6 - 4); the third child's 2 tasks end the run


@pytest.mark.docker
def test_hgm_swebench_preset_follows_hgms_rules(docker_engine: str, tmp_path: Path) -> None:
    dataset = swebench_dataset(tmp_path, hinted=(1,), copies=2)
    ids = [json.loads(line)["instance_id"] for line in dataset.read_text().splitlines()]
    provider = roman_script(distinct=True)
    try:
        options = {"dataset": str(dataset), "agent_timeout_s": 120, "grading_timeout_s": 120}
        stages = [{"subset": ids[0]}, {"subset": ids[1]}]  # the preset's small, then medium
        config = preset("hgm-swebench.yaml", provider, evaluator={"name": "swebench", "options": options},
                        stages=stages, workers=WORKERS, budget={"task_evaluations": BUDGET},
                        sandbox={"backend": "docker", "memory_mb": 1024})  # fmt: skip
        rules = config.hgm
        assert (config.mode, config.selector, config.seed_agent) == ("async", "hgm", "dgm-initial")
        assert (rules.expand_from, rules.count_seed_evaluations, rules.cool_down) == ("own_positive", False, True)
        assert config.self_improve.entry_rule == "dgm_swebench"  # HGM's choose_entry is DGM's SWE-bench rule
        assert rules.first_expansions(config.workers, config.hgm_alpha) == 2
        reason = run_campaign(config, tmp_path / "c")
    finally:
        provider.stop()
        with contextlib.suppress(ImageNotFound):
            docker_client().images.remove(IMAGE, force=True)
    assert reason.startswith("task evaluations:"), reason
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        agents = archive.nodes(kind="agent")
        seed = next(node for node in agents if node.operator == "seed")
        agents_by_id = {node.id: node for node in agents}
        own = {node.id: archive.results(node.id) for node in agents}
        assert sorted(r.resolved for r in own[seed.id]) == [False, True], "the seed solves the hinted task"
        recorded = sum(len(results) for results in own.values())
        assert recorded == BUDGET, "stopped by the budget (nothing else was due when it was reached)"

        expands = expansions_follow_hgm(archive, config)  # own successes, HGM's counting, its cool-down
        assert len(expands) == 3 and [e.data["parent"] for e in expands[:2]] == [seed.id] * 2
        assert all(e.data["evaluations"] == 0 for e in expands[:2]), "the initial expansions precede any count"
        assert (expands[2].data["evaluations"], expands[2].data["tau"]) == (4, 3.0), "4 ** 0.6 >= 2; tau 6 / (6 - 4)"
        assert all(e.node_id and agents_by_id[e.node_id].meta["entry"]["kind"] in entries.KINDS for e in expands)
        children = [node for node in agents if node.id != seed.id and own[node.id]]
        assert children and all(r.resolved for child in children for r in own[child.id]), "children learnt it"
        for results in own.values():
            for result in results:
                assert HIDDEN_TEST not in archive.artifacts.read_text(result.trajectory_path), "never the agent"
        best = best_agent(archive.summaries())
    assert best is not None and best.rule == "belief" and best.id != seed.id

    runner = CliRunner()
    status = runner.invoke(app, ["status", str(tmp_path / "c"), "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["best"]["id"] == best.id
    tree = runner.invoke(app, ["tree", str(tmp_path / "c"), "--all"])
    assert tree.exit_code == 0 and f"best agent {best.describe()}" in tree.output, tree.output
    graph = runner.invoke(app, ["export", str(tmp_path / "c")])
    assert graph.exit_code == 0 and json.loads(graph.output)["best"] == {
        "id": best.id, "rule": "belief", "value": best.value
    }  # fmt: skip
