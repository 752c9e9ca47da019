"""The campaign loop with a scripted model whose self-improvement really helps; budgets; resume."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from pathlib import Path

import pytest

from opendgm.archive import Archive
from opendgm.evolve.campaign import run_campaign
from opendgm.evolve.config import CampaignConfig, ConfigProblem, OperatorWeights
from opendgm.evolve.selectors import SELECTORS
from tests.support.scripted_models import CapabilityScript

TASKS = "HumanEval_0,HumanEval_2"


def config(provider: CapabilityScript, backend: str, **overrides: object) -> CampaignConfig:
    role = {"model": "openai/scripted", "api_base": provider.base_url, "max_tokens": 64,
            "price": {"prompt": 1.0, "completion": 2.0}, "timeout_s": 10}  # fmt: skip
    fields = {
        "name": "scripted",
        "seed": 1,  # the first child learns from a failed task, not from DGM's empty-patch special case
        "llm": {"roles": {"agent": role, "meta": role}, "retry": {"attempts": 1}},
        "stages": [{"subset": TASKS}],
        "generations": 1,
        "children_per_generation": 1,
        "workers": 2,
        "sandbox": {"backend": backend},
        "self_improve": {"timeout_s": 120, "max_steps": 5},
    }
    return CampaignConfig.model_validate(fields | overrides)


def test_a_helpful_self_improvement_is_kept_and_preferred(
    script: CapabilityScript, backend: str, tmp_path: Path
) -> None:
    reason = run_campaign(config(script, backend), tmp_path / "c")
    assert reason == "done: 1 generations"
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed, child = archive.nodes(kind="agent")
        assert (seed.operator, child.operator, child.parent_id) == ("seed", "self_improve", seed.id)
        assert child.status == "evaluated", child.status_reason
        assert archive.best_score(seed.id) == 0.0 and archive.best_score(child.id) == 1.0
        assert "```python" in child.meta["problem_statement"]
        assert "python3 - <<'PY'" in archive.diff_to_parent(child.id)
        made_by = [archive.node(e.dst) for e in archive.edges(child.id) if e.kind == "produced_by"]
        assert sorted(n.meta["role"] for n in made_by) == ["diagnosis", "self_improve"]
        assert archive.cost(child.id).calls > 0 and archive.cost(child.id).cost_usd > 0
        rows = archive.summaries(kind="agent")
    picks = SELECTORS["score_child_prop"](rows, 1000, random.Random(0))
    assert picks.count(child.id) > 950, "the selector's choices shift to the better child"


def test_budget_stops_cleanly_and_resumes_with_a_larger_one(
    script: CapabilityScript, docker_engine: str, tmp_path: Path
) -> None:
    tight = config(script, "docker", llm={**config(script, "docker").llm.model_dump(), "budget": {"usd": 0.004}})
    first = run_campaign(tight, tmp_path / "c")
    assert first.startswith("budget:"), first
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        spent = archive.ledger.totals()
        assert spent.cost_usd <= 0.004 and any(c.outcome == "refused" for c in archive.ledger.calls())
        stuck = [n for n in archive.nodes(kind="agent") if n.status not in ("evaluated", "rejected", "failed")]
        assert stuck, "the interrupted work is kept, waiting to be resumed"
    roomy = config(script, "docker", llm={**tight.llm.model_dump(), "budget": {"usd": 10.0}})
    assert run_campaign(roomy, tmp_path / "c") == "done: 1 generations"
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        statuses = sorted(n.status for n in archive.nodes(kind="agent"))
        assert statuses == ["evaluated", "evaluated"]
        keys = [(r.code_hash, r.task_id, r.attempt) for n in archive.nodes(kind="agent") for r in archive.results(n.id)]
        assert len(keys) == len(set(keys)) == 4


def test_config_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nllm: {roles: {agent: {model: m}}}\nselecter: best\n")
    with pytest.raises(ConfigProblem, match=r"selecter: Extra inputs are not permitted"):
        CampaignConfig.load(bad)
    bad.write_text("name: x\nllm: {roles: {agent: {model: m}}}\n")
    with pytest.raises(ConfigProblem, match=r"needs \['meta'\]"):
        CampaignConfig.load(bad)
    bad.write_text("llm: [unclosed\n")
    with pytest.raises(ConfigProblem, match="not valid YAML"):
        CampaignConfig.load(bad)
    with pytest.raises(ConfigProblem, match="cannot read"):
        CampaignConfig.load(tmp_path / "missing.yaml")
    examples = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
    assert {CampaignConfig.load(path).name for path in examples} >= {"quickstart", "openai-humaneval"}


@pytest.mark.parametrize(
    "operators",
    [{"self_improve": 1.0}, {"self_improve": 1.0, "pe2": 2.0, "hyper_mutation": 0.5}],
    ids=["dgm", "with-prompt-operators"],
)
def test_async_mode_expands_and_evaluates_task_by_task(
    script: CapabilityScript,
    docker_engine: str,
    tmp_path: Path,
    operators: dict[str, float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HGM's asynchronous loop: workers choose between expanding a node and evaluating one more task. Operators
    are drawn in turn here, so every configured one is exercised whatever the workers' timing (how many
    expansions there are depends on it); the weighted draw itself is checked below."""
    turns = itertools.cycle(operators)
    monkeypatch.setattr(OperatorWeights, "draw", lambda self, k, rng: [next(turns) for _ in range(k)])
    budget = {"task_evaluations": 12, "nodes": 3 * len(operators)}
    hgm = config(script, "docker", mode="async", budget=budget, workers=2, operators=operators)
    reason = run_campaign(hgm, tmp_path / "c")
    assert reason.startswith(("task evaluations:", "nodes:", "done:")), reason
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        kinds = [event.kind for event in archive.events()]
        assert "expand" in kinds
        agents = archive.nodes(kind="agent")
        children = [node for node in agents if node.operator in operators]
        made = {node.operator for node in archive.nodes()} - {"seed"}
        assert made == set(operators), "every configured operator made a node"
        assert children and all(node.status in ("evaluated", "rejected", "failed") for node in agents)
        # children are evaluated one sampled task at a time, in the pool stage, and the helpful one wins
        evaluated = [node for node in children if node.status == "evaluated"]
        assert evaluated, [(n.id, n.status, n.status_reason) for n in children]
        pooled = {s.stage for node in evaluated for s in archive.scores(node.id)}
        assert pooled == {"pool"}
        rows = {r.id: r for node in agents for r in archive.results(node.id)}  # identical code shares rows
        assert all(r.resolved for r in rows.values() if r.code_hash in {n.code_hash for n in evaluated})
        keys = [(r.code_hash, r.task_id, r.attempt) for r in rows.values()]
        assert len(keys) == len(set(keys)) <= 8


def test_operators_are_drawn_by_weight() -> None:
    weights = OperatorWeights(self_improve=1.0, pe2=2.0, hyper_mutation=0.5)
    drawn = Counter(weights.draw(10_000, random.Random(7)))
    assert set(drawn) == {"self_improve", "pe2", "hyper_mutation"}
    for name, weight in (("self_improve", 1.0), ("pe2", 2.0), ("hyper_mutation", 0.5)):
        assert abs(drawn[name] / 10_000 - weight / 3.5) < 0.02, (name, drawn)
    assert "pe2" not in OperatorWeights(self_improve=1.0).draw(1_000, random.Random(7))
