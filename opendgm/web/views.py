"""What the dashboard and the plots show, as JSON-ready dicts read from one archive snapshot.

Kept apart from HTTP so `opendgm plot` draws exactly what the browser sees.
"""

from __future__ import annotations

import bisect
import itertools
import json
from dataclasses import asdict
from typing import Any

from opendgm.archive import Archive, ArchiveError, credit
from opendgm.web.layout import tidy_layout

TREE_FIELDS = ("id", "parent", "kind", "status", "operator", "score", "stage", "x", "depth")
DIFF_LIMIT = 400_000  # characters of diff sent to the browser; the rest is summarised
EVENTS_PAGE = 1000


class NotFound(LookupError):
    """The request names something this archive does not hold (answered with 404)."""


def tree(archive: Archive) -> dict[str, Any]:
    """Every node as a compact row (fields in `TREE_FIELDS`) with its layout, plus typed edges."""
    with archive.snapshot():
        rows = archive.summaries(kind=None)
        edges = archive.edges()
    place = tidy_layout((row.id, row.parent_id) for row in rows)
    return {
        "campaign": archive.campaign,
        "fields": TREE_FIELDS,
        "nodes": [
            [row.id, row.parent_id, row.kind, row.status, row.operator, row.score, row.stage, *place[row.id]]
            for row in rows
        ],
        "edges": [[edge.src, edge.dst, edge.kind] for edge in edges],
    }


def node(archive: Archive, node_id: str) -> dict[str, Any]:
    """Everything the node panel shows: facts, scores per stage, per-task results, diff, statement, cost, and
    for a meta-prompt its fitness (each child's gain over its parent)."""
    with archive.snapshot():
        item = archive.node(archive.resolve(node_id))
        cost = archive.cost(item.id)
        diff = archive.diff_to_parent(item.id) if item.code_hash is not None else None
        facts = {
            "children": [child.id for child in archive.children(item.id)],
            "scores": [asdict(score) | {"score": score.score} for score in archive.scores(item.id)],
            "results": [asdict(result) for result in archive.results(item.id)],
            "edges": [asdict(edge) for edge in archive.edges(item.id)],
        }
        record = credit.fitness_of(archive, item.id)
    if diff is not None and len(diff) > DIFF_LIMIT:
        diff = diff[:DIFF_LIMIT] + f"\n... diff clipped: {len(diff) - DIFF_LIMIT} more characters\n"
    meta = dict(item.meta)
    return {
        **{key: value for key, value in asdict(item).items() if key != "meta"},
        "meta": meta,
        "problem_statement": meta.pop("problem_statement", None),
        "diff": diff,
        "cost": asdict(cost) | {"tokens": cost.tokens},
        "fitness": None
        if record is None
        else {"summary": record.summary(), "credits": [asdict(c) for c in record.credits]},
        **facts,
    }


def trajectory(archive: Archive, node_id: str, task_id: str, attempt: int | None = None) -> dict[str, Any]:
    """The steps of a task's trajectory (one JSON object per JSONL line; other lines kept as text)."""
    results = [r for r in archive.results(node_id) if r.task_id == task_id and attempt in (None, r.attempt)]
    if not results:
        raise NotFound(f"node {node_id} has no result for task {task_id!r}")
    result = max(results, key=lambda r: (r.attempt, r.id))
    if not result.trajectory_path:
        raise NotFound(f"the result of {node_id} on {task_id!r} has no trajectory")
    try:
        text = archive.artifacts.read_text(result.trajectory_path)
    except (ArchiveError, OSError) as error:
        raise NotFound(f"trajectory {result.trajectory_path} unreadable: {error}") from None
    return {
        "node": node_id,
        "task": task_id,
        "attempt": result.attempt,
        "path": result.trajectory_path,
        "steps": [_step(line) for line in text.splitlines() if line.strip()],
    }


def _step(line: str) -> dict[str, Any]:
    try:
        step = json.loads(line)
    except ValueError:
        return {"type": "text", "text": line}
    return step if isinstance(step, dict) else {"type": "value", "value": step}


def progress(archive: Archive) -> dict[str, Any]:
    """Best and mean agent score against nodes created and against cumulative spend, and spend by role.

    A node's spend is the ledger total up to its last status change (when its score became known)."""
    with archive.snapshot():
        rows = archive.summaries()
        changed = {item.id: item.updated_at for item in archive.nodes(kind="agent")}
        calls = sorted(archive.ledger.calls(), key=lambda call: call.ts)
    times = [call.ts for call in calls]
    spent = list(itertools.accumulate((call.cost_usd for call in calls), initial=0.0))
    by_node = _running([(count, row) for count, row in enumerate(rows, 1) if row.score is not None])
    scored = sorted((row for row in rows if row.score is not None), key=lambda row: changed[row.id])
    by_spend = _running([(spent[bisect.bisect_right(times, changed[row.id])], row) for row in scored])
    roles: dict[str, dict[str, float]] = {}
    for call in calls:
        role = roles.setdefault(call.role, {"calls": 0, "cost_usd": 0.0, "tokens": 0})
        role["calls"] += 1
        role["cost_usd"] += call.cost_usd
        role["tokens"] += call.prompt_tokens + call.completion_tokens
    return {
        "by_node": by_node,
        "by_spend": by_spend,
        "by_role": roles,
        "total_cost_usd": spent[-1],
        "agents": len(rows),
        "scored": len(scored),
    }


def _running(points: list[tuple[float, Any]]) -> list[dict[str, Any]]:
    """Best-so-far and mean-so-far of the scores, in the order given, at each x."""
    out, best, total = [], 0.0, 0.0
    for count, (x, row) in enumerate(points, 1):
        best, total = max(best, row.score), total + row.score
        out.append({"x": x, "id": row.id, "score": row.score, "best": best, "mean": total / count})
    return out


def events(archive: Archive, since: int = 0, tail: int | None = None) -> dict[str, Any]:
    """Events after `since`, a page at a time; `last` is the id to poll from next. With `tail`, start no
    earlier than the newest `tail` events, so a fresh dashboard skips a long campaign's history."""
    with archive.snapshot():
        if tail is not None:
            since = max(since, archive.last_event_id() - tail)
        page = archive.events(since_id=since, limit=EVENTS_PAGE)
    return {
        "events": [asdict(event) for event in page],
        "last": page[-1].id if page else since,
        "more": len(page) == EVENTS_PAGE,
    }
