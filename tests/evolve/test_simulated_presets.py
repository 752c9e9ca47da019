"""The presets' scheduling rules on the real scheduler at zero model cost (`opendgm simulate`'s landscape): HGM's
preset as shipped expands only nodes with an own mean above zero and counts evaluations without the seed's; DGM's
`keep_better` rejects children below the seed's score minus 0.1 (`rejected_by: keep_better`) and `no_darwin`
always expands the newest agent. The agents, models and sandboxes of these runs are tested in test_dgm_presets.py
and test_hgm_campaign.py; these runs show the archive rules over many more children than those can afford."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from opendgm.archive import Archive
from opendgm.archive.best import best_agent
from opendgm.evolve.config import CampaignConfig
from opendgm.evolve.simulate import simulate_one, simulated
from tests.evolve.test_hgm_campaign import expansions_follow_hgm

EXAMPLES = Path(__file__).parents[2] / "examples"
ROLE = {"model": "openai/simulated", "api_base": "http://127.0.0.1:9"}


def preset(name: str, **overrides: Any) -> CampaignConfig:
    """The preset file with unreachable models (the simulator calls none) and the given overrides."""
    raw = yaml.safe_load((EXAMPLES / name).read_text())
    raw["llm"] = {"roles": dict.fromkeys(raw["llm"]["roles"], ROLE)}
    return CampaignConfig.model_validate(raw | overrides)


def test_hgm_preset_expands_only_own_positive_nodes_and_counts_without_the_seed(tmp_path: Path) -> None:
    config = preset("hgm-swebench.yaml", budget={"task_evaluations": 160})  # HGM's 60 tasks, 20 workers, cool-down
    assert config.hgm.cool_down and config.hgm.expand_from == "own_positive" and config.workers == 20
    with simulated(config, tmp_path / "c") as campaign:
        reason = campaign.run()
    assert reason.startswith("task evaluations:"), reason
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed = next(node for node in archive.nodes(kind="agent") if node.operator == "seed")
        assert len(archive.results(seed.id)) == 60, "the seed runs every task first"
        first = config.hgm.first_expansions(config.workers, config.hgm_alpha)
        assert first == 5 and len(expansions_follow_hgm(archive, config)) > first
        best = best_agent(archive.summaries())
        assert best is not None and best.rule == "belief"


def test_keep_better_rejects_children_below_the_seed_minus_its_margin(tmp_path: Path) -> None:
    landscape = {"initial_ability": 0.4, "step": {"mean": -0.08, "spread": 0.1}, "broken_share": 0.0}
    config = preset("dgm-swebench.yaml", archive_rule="keep_better", simulation=landscape, generations=6,
                    stages=[{"subset": "small"}], budget={})  # fmt: skip
    simulate_one(config, tmp_path / "c")
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed, *children = archive.nodes(kind="agent")
        score = {node.id: archive.best_score(node.id) for node in (seed, *children)}
        rejected = [child for child in children if child.meta.get("rejected_by") == "keep_better"]
        assert rejected and all(score[child.id] < score[seed.id] - 0.1 for child in rejected)
        kept = [child for child in children if child.status == "evaluated"]
        assert kept and all(score[child.id] >= score[seed.id] - 0.1 - 1e-9 for child in kept)
        parents = {child.parent_id for child in children}
        assert not parents & {child.id for child in rejected}, "a rejected child is never a parent"


def test_no_darwin_always_expands_the_newest_agent(tmp_path: Path) -> None:
    config = preset("dgm-swebench.yaml", baseline="no_darwin", generations=4, stages=[{"subset": "small"}], budget={})
    simulate_one(config, tmp_path / "c")
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        generations = [event.data for event in archive.events() if event.kind == "generation"]
        nodes = {node.id: node for node in archive.nodes(kind="agent")}
        assert len(generations) == 4
        for generation in generations:
            before = [n for n in nodes.values() if n.status == "evaluated" and n.id < min(generation["children"])]
            assert set(generation["parents"]) == {before[-1].id}, generation


def test_hgm_evaluates_a_random_unseen_task_or_the_next_in_pool_order(tmp_path: Path) -> None:
    """`hgm.eval_random_level`: the chance that an evaluation takes a random unseen task of the node (HGM's preset:
    1, always), else its next one in pool order. Results land as tasks finish, so at 0 each child's tasks are the
    pool's first ones (as a set; a few more were started than finished only while some were in flight)."""
    done: dict[float, list[tuple[list[str], list[str]]]] = {}
    for level in (0.0, 1.0):
        shipped = preset("hgm-swebench.yaml", budget={"task_evaluations": 90})
        config = shipped.model_copy(update={"hgm": shipped.hgm.model_copy(update={"eval_random_level": level})})
        simulate_one(config, tmp_path / str(level))
        with Archive.open(tmp_path / str(level), readonly=True) as archive:
            seed, *children = archive.nodes(kind="agent")
            pool = [r.task_id for r in archive.results(seed.id)]  # the seed ran every stage, in order
            done[level] = [(pool, [r.task_id for r in archive.results(child.id)]) for child in children]
    assert sum(len(tasks) for _, tasks in done[0.0]) >= 20
    assert all(set(tasks) <= set(pool[: len(tasks) + 20]) for pool, tasks in done[0.0]), "the pool's first tasks"
    assert any(not set(tasks) <= set(pool[: len(tasks) + 20]) for pool, tasks in done[1.0]), "random unseen tasks"
    assert all(len(set(tasks)) == len(tasks) for _, tasks in done[1.0]), "never a task twice"


def test_a_named_selector_picks_the_parent_in_async_mode(tmp_path: Path) -> None:
    """`selector` is used in async mode, not ignored: with `best` every expansion takes an eligible node with the
    most own successes so far (every pool node is scored over the same 60 tasks); HGM's Thompson draw does not."""
    followed = {}
    for selector in ("best", "hgm"):
        simulate_one(
            preset("hgm-swebench.yaml", selector=selector, budget={"task_evaluations": 100}), tmp_path / selector
        )
        with Archive.open(tmp_path / selector, readonly=True) as archive:
            results = [r for node in archive.nodes(kind="agent") for r in archive.results(node.id)]
            expands = [event for event in archive.events() if event.kind == "expand"]
        picks = []
        for event in expands:
            passes: dict[str, int] = {}
            for result in results:
                if result.created_at < event.ts:
                    passes[result.node_id] = passes.get(result.node_id, 0) + result.resolved
            picks.append(passes[event.data["parent"]] == max(passes.values()))
        followed[selector] = picks
    assert len(followed["best"]) > 5 and all(followed["best"]), followed["best"]
    assert not all(followed["hgm"]), "HGM's draw is not the best-scoring node every time"
