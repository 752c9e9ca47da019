"""What a campaign spent and what it bought, as plain data: `opendgm cost`, `opendgm status` (and --json) and the
dashboard's spend view all read `cost_report`, so they never disagree.

- Spend by role, by purpose (agent work, self-modification, diagnosis, PE2, judging, ...), by node, and by
  operator (what made the node a call was charged to; calls charged to no node are the campaign's own).
- Prompt caching: prompt tokens read from and written to providers' caches, and the hit rate (the share of all
  prompt tokens read from a cache).
- Per resolved task: the tokens and dollars of agent work (agents running on tasks) per resolved task result.
- Cost per improvement. Agents are taken in the order their figures became known (their last status change);
  each that ranks above every agent before it under the best-agent rule (`best.py`) is a new best agent. For each,
  the primary figure is the campaign's total spend until then (what the search paid to get there); beside it, the
  spend since the previous best, and the spend of the new best agent's own path, root to it (what the improvement
  would have cost had the search gone straight there). The first best agent (usually the seed) is the baseline:
  dollars per point divide the spend after it by the points gained over it.
"""

from __future__ import annotations

from typing import Any

from opendgm.archive.archive import Archive
from opendgm.archive.best import DEFAULT_RULE, BestRule, best_path, candidates, resolve
from opendgm.archive.models import NodeSummary
from opendgm.llm import Totals

# Purpose prefixes (as the callers write them) and the group a report shows; any other purpose is its first word.
PURPOSES = (
    ("agent", "agent work"),
    ("self_improve", "self-modification"),
    ("diagnose", "diagnosis"),
    ("pe2", "PE2"),
    ("hyper_mutation", "hyper-mutation"),
    ("mpo judge", "judging"),
    ("mpo refine", "rubric refinement"),
    ("answer:", "prompt answers"),
    ("check", "checks"),
)
CAMPAIGN = "(campaign)"  # the operator of calls charged to no node
_NOTHING = Totals()


def purpose_group(purpose: str) -> str:
    """The report's group for a ledger row's `purpose` ("agent t1" is agent work, "mpo judge s3" judging, ...)."""
    for prefix, group in PURPOSES:
        if purpose == prefix.rstrip(":") or purpose.startswith(prefix if prefix.endswith(":") else prefix + " "):
            return group
    return purpose.split(" ", 1)[0] or "unlabelled"


def spend(totals: Totals) -> dict[str, Any]:
    """One line of spend, JSON-ready."""
    return {
        "cost_usd": totals.cost_usd,
        "tokens": totals.tokens,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "cache_read_tokens": totals.cache_read_tokens,
        "cache_write_tokens": totals.cache_write_tokens,
        "cache_hit_rate": totals.cache_hit_rate,
        "calls": totals.calls,
        "errors": totals.errors,
    }


def cost_report(
    archive: Archive, rule: BestRule = DEFAULT_RULE, top: int | None = None, rows: list[NodeSummary] | None = None
) -> dict[str, Any]:
    """The campaign's spend and its cost per improvement; `top` keeps only the costliest nodes; `rows` are the
    archive's `summaries(kind=None)` when the caller has them already (in the same snapshot). JSON-ready."""
    campaign = archive.campaign
    with archive.snapshot():
        rows = archive.summaries(kind=None) if rows is None else rows
        rule = resolve(rows, rule)  # the rule `auto` stands for in this campaign, named in the report
        known_at = archive.known_at()
        by_role = archive.ledger.totals_by("role", campaign)
        by_purpose = archive.ledger.totals_by("purpose", campaign)
        by_node = archive.ledger.totals_by("node", campaign)
        by_operator = archive.ledger.totals_by("operator", campaign)
        bests = _new_bests(rows, known_at, rule)
        until = [archive.ledger.totals_until(known_at[row.id], campaign) for _, row in bests]
    total = sum(by_role.values(), _NOTHING)
    groups: dict[str, Totals] = {}
    for purpose, totals in by_purpose.items():
        group = purpose_group(purpose or "")
        groups[group] = groups.get(group, _NOTHING) + totals
    operator = {row.id: row.operator for row in rows}
    operators = {CAMPAIGN if name is None else name: totals for name, totals in by_operator.items()}
    nodes = sorted(
        ((n, t) for n, t in by_node.items() if n is not None), key=lambda item: (-item[1].cost_usd, -item[1].tokens)
    )
    return {
        "campaign": campaign,
        "total": spend(total),
        "by_role": {role or "?": spend(t) for role, t in sorted(by_role.items(), key=lambda i: -i[1].cost_usd)},
        "by_purpose": {group: spend(t) for group, t in sorted(groups.items(), key=lambda i: -i[1].cost_usd)},
        "by_operator": {name: spend(t) for name, t in sorted(operators.items(), key=lambda i: -i[1].cost_usd)},
        "by_node": {node: spend(t) | {"operator": operator.get(node)} for node, t in nodes[:top]},
        "nodes_charged": len(nodes),
        "per_resolved_task": _per_resolved(rows, groups.get("agent work", _NOTHING)),
        "rule": rule,
        "improvements": _improvements(rows, bests, until, by_node),
        "cost_per_improvement": _per_improvement(bests, until),
    }


def _new_bests(rows: list[NodeSummary], known_at: dict[str, float], rule: BestRule) -> list[tuple[float, NodeSummary]]:
    """Each agent that ranked above every agent known before it, in the order their figures became known."""
    order = {row.id: index for index, row in enumerate(rows)}
    ranked = sorted(candidates(rows, rule), key=lambda item: (known_at[item[2].id], order[item[2].id]))
    bests, leader = [], None
    for value, evidence, row in ranked:
        key = (value, evidence, -order[row.id])  # best.best_agent's order
        if leader is None or key > leader:
            leader = key
            bests.append((value, row))
    return bests


def _improvements(
    rows: list[NodeSummary],
    bests: list[tuple[float, NodeSummary]],
    until: list[Totals],
    by_node: dict[str | None, Totals],
) -> list[dict[str, Any]]:
    steps = []
    for index, ((value, row), spent) in enumerate(zip(bests, until, strict=True)):
        path = best_path(rows, row.id)
        lineage = sum((by_node.get(node, _NOTHING) for node in path), _NOTHING)
        before = until[index - 1] if index else _NOTHING
        steps.append(
            {
                "node": row.id,
                "value": value,
                "gain": value - bests[index - 1][0] if index else None,
                "campaign_usd": spent.cost_usd,
                "campaign_tokens": spent.tokens,
                "since_previous_usd": spent.cost_usd - before.cost_usd,
                "since_previous_tokens": spent.tokens - before.tokens,
                "path": path,
                "path_usd": lineage.cost_usd,
                "path_tokens": lineage.tokens,
            }
        )
    return steps


def _per_improvement(bests: list[tuple[float, NodeSummary]], until: list[Totals]) -> dict[str, Any] | None:
    """The average over the improvements after the baseline (None before there is one)."""
    if len(bests) < 2:
        return None
    count, points = len(bests) - 1, (bests[-1][0] - bests[0][0]) * 100
    usd, tokens = until[-1].cost_usd - until[0].cost_usd, until[-1].tokens - until[0].tokens
    return {
        "improvements": count,
        "baseline": bests[0][1].id,
        "best": bests[-1][1].id,
        "points_gained": points,
        "usd_per_improvement": usd / count,
        "tokens_per_improvement": tokens / count,
        "usd_per_point": usd / points if points > 0 else None,
        "tokens_per_point": tokens / points if points > 0 else None,
    }


def _per_resolved(rows: list[NodeSummary], agent_work: Totals) -> dict[str, Any]:
    """Agent work per resolved task result; results are kept per code, so identical agents count once."""
    codes = {row.code_hash: row for row in rows if row.kind == "agent" and row.code_hash is not None}
    resolved = sum(row.passes for row in codes.values())
    return {
        "resolved": resolved,
        "graded": sum(row.passes + row.fails for row in codes.values()),
        "agent_tokens": agent_work.tokens,
        "agent_usd": agent_work.cost_usd,
        "tokens_per_resolved": agent_work.tokens / resolved if resolved else None,
        "usd_per_resolved": agent_work.cost_usd / resolved if resolved else None,
    }
