"""A campaign at a glance as plain data: what `opendgm status --json`, the dashboard's overview and the
experiment trackers read, so the three never disagree.

Everything comes from one archive snapshot: nodes by kind and status, the best agent and the path that led to
it, generations, and spend (USD and tokens, in total and per role: a campaign on free local models still
shows how much it used), with the cost report's figures (`costs.py`: by purpose and operator, prompt caching,
per resolved task, cost per improvement; the ten costliest nodes).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from opendgm.archive.archive import Archive
from opendgm.archive.best import DEFAULT_RULE, BestRule, best_agent, best_path, resolve, why_none
from opendgm.archive.costs import cost_report


def overview(archive: Archive, rule: BestRule = DEFAULT_RULE) -> dict[str, Any]:
    """The campaign's state now; JSON-ready (plain dicts, lists, numbers and strings)."""
    with archive.snapshot():
        rows = archive.summaries(kind=None)
        cost = cost_report(archive, rule, top=10, rows=rows)
        generations = archive.event_count("generation")
        stops = archive.latest_events(1, kind="campaign_stopped")
        last_event = archive.last_event_id()
    agents = [row for row in rows if row.kind == "agent"]
    rule = resolve(rows, rule)
    best = best_agent(rows, rule)
    return {
        "campaign": archive.campaign,
        "nodes": len(rows),
        "nodes_by_kind": dict(sorted(Counter(row.kind for row in rows).items())),
        "agents_by_status": dict(sorted(Counter(row.status for row in agents).items())),
        "generations": generations,
        "task_evaluations": sum(row.passes + row.fails for row in agents),
        "best": None
        if best is None
        else {
            "id": best.id,
            "rule": best.rule,
            "value": best.value,
            "passes": best.passes,
            "fails": best.fails,
            "stage": best.stage,
            "score": best.score,
            "summary": best.describe(),
        },
        "best_rule": rule,
        "best_note": None if best else why_none(rule),
        "best_path": best_path(rows, best.id) if best else [],
        "spend": cost["total"],
        "spend_by_role": {
            role: {key: line[key] for key in ("cost_usd", "tokens", "calls", "errors")}
            for role, line in sorted(cost["by_role"].items())
        },
        "cost": cost,
        "last_stop": stops[-1].data.get("reason") if stops else None,
        "last_event": last_event,
    }
