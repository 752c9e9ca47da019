"""A scripted-model HGM campaign (mode async, HGM's rules) runs to its budget, and its archive obeys the rules:
no child is expanded from a node without results, the expand/evaluate rule counts evaluations without the seed's,
a node that cannot be expanded costs nothing, and the best agent is HGM's best-belief one."""

from __future__ import annotations

from pathlib import Path

from opendgm.archive import Archive
from opendgm.archive.best import best_agent
from opendgm.archive.models import Event
from opendgm.evolve.campaign import run_campaign
from opendgm.evolve.config import CampaignConfig
from tests.evolve.test_campaign import config
from tests.support.scripted_models import CapabilityScript

HGM = {"expand_from": "evaluated", "count_seed_evaluations": False, "initial_expansions": "hgm"}


def test_hgm_async_campaign_runs_to_its_budget_by_hgm_rules(
    script: CapabilityScript, local_isolation: None, tmp_path: Path
) -> None:
    settings = config(script, "local", mode="async", workers=2, budget={"task_evaluations": 6}, hgm=HGM)
    reason = run_campaign(settings, tmp_path / "c")
    assert reason.startswith("task evaluations:"), reason
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        agents = {node.id: node for node in archive.nodes(kind="agent")}
        seed = next(node for node in agents.values() if node.operator == "seed")
        recorded = sum(row.passes + row.fails for row in archive.summaries())  # what the budget counts
        assert 6 <= recorded <= 6 + settings.workers
        assert expansions_follow_hgm(archive, settings), "the campaign expanded"
        reasons = [str(node.status_reason) for node in agents.values() if node.status == "rejected"]
        assert not [why for why in reasons if "no graded task" in why]
        best = best_agent(archive.summaries())
        assert best is not None and best.rule == "belief" and best.id != seed.id  # the helpful child


def expansions_follow_hgm(archive: Archive, settings: CampaignConfig) -> list[Event]:
    """Check every expansion against HGM's rules and return them: its parent had an own result before (an own
    success under `own_positive`), the expand/evaluate rule counted evaluations without the seed's, and the
    cool-down's tau (`hgm.sharpness`) was taken over the budget without the seed's results."""
    agents = {node.id: node for node in archive.nodes(kind="agent")}
    seed = next(node for node in agents.values() if node.operator == "seed")
    results = [r for node in agents for r in archive.results(node)]
    expands = [event for event in archive.events() if event.kind == "expand"]
    first = settings.hgm.first_expansions(settings.workers, settings.hgm_alpha)
    budget = settings.budget.task_evaluations
    total = None if budget is None else budget - len(archive.results(seed.id))
    for index, event in enumerate(expands):
        parent = event.data["parent"]
        before = [r for r in results if r.created_at < event.ts]
        own = [r for r in before if r.node_id == parent]
        assert own, f"{parent} was expanded before any result of its own"
        if settings.hgm.expand_from == "own_positive":
            assert any(r.resolved for r in own), f"{parent} had no own success when expanded"
        counted = sum(1 for r in before if r.node_id != seed.id)  # HGM: the seed's results do not count
        kept = sum(1 for e in expands[:index] if agents[e.node_id].status not in ("rejected", "failed"))
        assert kept < first or counted**settings.hgm_alpha >= kept, (index, counted, kept)
        seen = event.data["evaluations"]  # what the choice was made with (results may land while it is made)
        assert seen <= counted and (kept < first or seen**settings.hgm_alpha >= kept), (index, seen, kept)
        assert event.data["tau"] == settings.hgm.sharpness(seen, total), (index, event.data, total)
    return expands


def test_own_positive_never_expands_a_seed_that_solves_nothing(
    script: CapabilityScript, local_isolation: None, tmp_path: Path
) -> None:
    """HGM's filter with a seed at 0%: nothing may be expanded, so nothing is created and the run says why."""
    rules = HGM | {"expand_from": "own_positive"}
    settings = config(script, "local", mode="async", budget={"task_evaluations": 8, "nodes": 2}, hgm=rules)
    reason = run_campaign(settings, tmp_path / "c")
    assert "no agent can be expanded" in reason
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        assert [node.operator for node in archive.nodes(kind="agent")] == ["seed"]
