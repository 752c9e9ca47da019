"""`opendgm simulate`: the real scheduler on a simulated landscape is deterministic per seed, writes an archive that
passes a real campaign's checks and that `tree` reads, and compares policies."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendgm.archive import Archive
from opendgm.archive.best import best_agent
from opendgm.cli import app
from opendgm.evolve.config import CampaignConfig, ConfigProblem
from opendgm.evolve.simulate import NOTE, compare, policy_config, simulated

ROLES = {"agent": {"model": "openai/x", "api_base": "http://127.0.0.1:9"}, "meta": {"model": "openai/x"}}
CONFIG = {
    "name": "sim",
    "llm": {"roles": ROLES},
    "stages": [{"subset": "small", "limit": 4, "threshold": 0.25}, {"subset": "medium", "limit": 8}],
    "workers": 3,
    "budget": {"task_evaluations": 40},
    "simulation": {"initial_ability": 0.3, "step": {"mean": 0.05, "spread": 0.1}, "broken_share": 0.2, "target": 0.4},
}


def run(policy: str, seed: int, root: Path) -> tuple[str, list[tuple], dict]:
    with simulated(policy_config(CampaignConfig.model_validate(CONFIG), policy, seed, None), root) as campaign:
        reason = campaign.run()
    with Archive.open(root, readonly=True) as archive:
        nodes = [(n.id, n.parent_id, n.status, n.meta.get("simulated_ability")) for n in archive.nodes(kind="agent")]
        results = sorted((r.node_id, r.task_id, r.status) for n in nodes for r in archive.results(n[0]))
    return reason, nodes + results, vars(campaign.progress)


def integrity(root: Path) -> list[str]:
    """What a real campaign's archive passes: SQLite's own check, opening with the code check, every node's code."""
    with sqlite3.connect(root / "archive.sqlite") as conn:
        problems = [] if conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok" else ["sqlite"]
    with Archive.open(root, readonly=True) as archive:  # checks agents.git against the nodes
        for node in archive.nodes(kind="agent"):
            if node.status == "evaluated" and node.commit is None:
                problems.append(f"{node.id} evaluated without code")
            if (
                node.commit is not None
                and node.parent_id
                and archive.code(node.id).entry(NOTE.format(node=node.id)) is None
            ):
                problems.append(f"{node.id} lacks its simulated change")
    return problems


@pytest.mark.parametrize("policy", ["hgm", "score_child_prop"])
def test_deterministic_per_seed_and_the_archive_is_a_real_one(policy: str, tmp_path: Path) -> None:
    first, again, other = run(policy, 3, tmp_path / "a"), run(policy, 3, tmp_path / "b"), run(policy, 4, tmp_path / "c")
    assert first == again and first[1] != other[1]
    assert first[0].startswith("task evaluations:"), first[0]
    assert integrity(tmp_path / "a") == []
    with Archive.open(tmp_path / "a", readonly=True) as archive:
        rows = archive.summaries()
        assert sum(r.passes + r.fails for r in rows) >= 40
        best = best_agent(rows)
        assert best is not None and best.rule == ("belief" if policy == "hgm" else "full_score")
        statuses = {n.status for n in archive.nodes(kind="agent")}
        assert statuses <= {"evaluated", "rejected"} and "rejected" in statuses  # broken children are dropped
    shown = CliRunner().invoke(app, ["tree", str(tmp_path / "a")])
    assert shown.exit_code == 0 and "best agent" in shown.output and best.id in shown.output


def test_compare_summarizes_every_policy_and_refuses_an_unbounded_config(tmp_path: Path) -> None:
    config = CampaignConfig.model_validate(CONFIG)
    summary = compare(config, tmp_path / "out", 1, ("hgm", "best"))  # all four: the benchmark's smoke test
    assert set(summary["policies"]) == {"hgm", "best"}
    for row in summary["policies"].values():
        assert 0 <= row["reached"] <= 1 and set(row["evaluations"]) == {"median", "p25", "p75"}
    unbounded = CampaignConfig.model_validate(CONFIG | {"budget": {"nodes": 3}})
    with pytest.raises(ConfigProblem, match="task_evaluations"):
        compare(unbounded, tmp_path / "none", 1)


def test_the_command_prints_the_comparison_and_keeps_an_existing_directory(tmp_path: Path) -> None:
    config = tmp_path / "sim.yaml"
    config.write_text(CampaignConfig.model_validate(CONFIG).model_dump_json(), encoding="utf-8")
    args = ["simulate", str(config), "--seeds", "1", "--policy", "hgm", "--policy", "random"]
    args += ["--dir", str(tmp_path / "s")]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "hgm" in done.output and (tmp_path / "s" / "summary.json").exists()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "already holds a simulation" in again.output


def test_the_policy_benchmark_runs_small(tmp_path: Path) -> None:
    """Smoke test of benchmarks/simulate_policies.py: one seed, a small budget, ratios to DGM's policy."""
    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    import simulate_policies  # a script, not a package

    summary = simulate_policies.main(["--seeds", "1", "--budget", "24", "--dir", str(tmp_path)])
    assert summary["ratios_to_score_child_prop"]["score_child_prop"]["evaluations"] in (1.0, None)
    assert set(summary["policies"]) == {"score_child_prop", "hgm", "best", "random"}
