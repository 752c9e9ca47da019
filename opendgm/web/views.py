"""What the dashboard and the plots show, as JSON-ready dicts read from one archive snapshot.

Kept apart from HTTP so `opendgm plot` draws exactly what the browser sees.
"""

from __future__ import annotations

import bisect
import itertools
import json
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from opendgm.archive import (
    SELF_MODIFICATION_LOG,
    Archive,
    ArchiveError,
    Edge,
    NodeSummary,
    best_agent,
    best_path,
    credit,
    sentence,
    why_none,
)
from opendgm.llm import Totals
from opendgm.web.layout import tidy_layout

TREE_FIELDS = (
    "id", "parent", "kind", "status", "operator", "score", "stage", "x", "depth",
    "passes", "fails", "children", "cost_usd", "tokens", "reason",
)  # fmt: skip
DIFF_LIMIT = 400_000  # characters of diff sent to the browser; the rest is summarised
CODE_LIMIT = 2_000_000  # characters of an agent's code sent to the browser, all files together
FILE_LIMIT = 300_000  # characters of one file
SELF_MODIFICATION_PATCH = "nodes/{node}/self_improve.patch"  # written by opendgm.evaluators.self_modification
EVENTS_PAGE = 1000


class NotFound(LookupError):
    """The request names something this archive does not hold (answered with 404)."""


def tree(archive: Archive) -> dict[str, Any]:
    """Every node as a compact row (fields in `TREE_FIELDS`) with its layout, plus typed edges and the best agent
    with the path that led to it."""
    campaign, rows, edges, spent = _tree_inputs(archive)
    return _tree(campaign, rows, edges, spent, tidy_layout((row.id, row.parent_id) for row in rows))


class TreeCache:
    """The last tree of one campaign as JSON, with what it was made from: while the archive's rows, edges and
    spending compare equal (C-level comparisons; unchanged rows are the very objects the summary cache keeps),
    the kept JSON is the answer, so a dashboard polling a 10^4-10^5 node tree does not lay it out each time; and
    while the nodes and their parents are the same (a result or a status changed), the layout is kept."""

    def __init__(self) -> None:
        self._made_from: tuple | None = None
        self._body = b""
        self._shape: list[tuple[str, str | None]] = []
        self._place: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def tree_json(self, archive: Archive) -> bytes:
        """`tree(archive)` as compact UTF-8 JSON."""
        inputs = _tree_inputs(archive)
        shape = [(row.id, row.parent_id) for row in inputs[1]]
        with self._lock:
            if inputs == self._made_from:
                return self._body
            place = self._place if shape == self._shape else None
        place = place or tidy_layout(shape)
        body = json.dumps(_tree(*inputs, place), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        with self._lock:
            self._made_from, self._body, self._shape, self._place = inputs, body.encode(), shape, place
            return self._body


def _tree_inputs(archive: Archive) -> tuple[str, list[NodeSummary], list[Edge], dict[str | None, Totals]]:
    with archive.snapshot():
        return archive.campaign, archive.summaries(kind=None), archive.edges(), archive.ledger.totals_by("node")


def _tree(
    campaign: str,
    rows: list[NodeSummary],
    edges: list[Edge],
    spent: dict[str | None, Totals],
    place: dict[str, tuple[float, int]],
) -> dict[str, Any]:
    chosen = best_agent(rows)
    nothing = Totals()

    def row_of(row: NodeSummary) -> list[Any]:
        used = spent.get(row.id, nothing)
        facts = [row.id, row.parent_id, row.kind, row.status, row.operator, row.score, row.stage, *place[row.id]]
        return [*facts, row.passes, row.fails, row.n_children, used.cost_usd, used.tokens, row.status_reason]

    return {
        "campaign": campaign,
        "fields": TREE_FIELDS,
        "nodes": [row_of(row) for row in rows],
        "edges": [[edge.src, edge.dst, edge.kind] for edge in edges],
        "best": None if chosen is None else {"id": chosen.id, "value": chosen.value, "summary": chosen.describe()},
        "best_note": None if chosen else why_none(),
        "best_path": best_path(rows, chosen.id) if chosen else [],
    }


def node(archive: Archive, node_id: str) -> dict[str, Any]:
    """Everything the node panel shows: facts, scores per stage, per-task results, diff, statement, cost, and
    for a meta-prompt its fitness (each child's gain over its parent)."""
    with archive.snapshot():
        item = archive.node(archive.resolve(node_id))
        cost = archive.cost(item.id)
        change = archive.diff_to_parent(item.id) if item.code_hash is not None else None
        facts = {
            "children": [child.id for child in archive.children(item.id)],
            "scores": [asdict(score) | {"score": score.score} for score in archive.scores(item.id)],
            "results": [asdict(result) for result in archive.results(item.id)],
            "edges": [asdict(edge) for edge in archive.edges(item.id)],
        }
        record = credit.fitness_of(archive, item.id)
        calls = archive.ledger.calls(node=item.id)
        lineage = [node.id for node in archive.lineage(item.id)]
        log_path = SELF_MODIFICATION_LOG.format(node=item.id)
        patch_path = SELF_MODIFICATION_PATCH.format(node=item.id)
        self_modification = {
            "log": log_path if archive.artifacts.exists(log_path) else None,
            "patch": _clip(archive.artifacts.read_text(patch_path)) if archive.artifacts.exists(patch_path) else None,
        }
    meta = dict(item.meta)
    return {
        **{key: value for key, value in asdict(item).items() if key != "meta"},
        "meta": meta,
        "problem_statement": meta.pop("problem_statement", None),
        "diff": None if change is None else _clip(change),
        "lineage": lineage,
        "self_modification": self_modification,
        "calls": [asdict(call) for call in sorted(calls, key=lambda call: call.ts)],
        "cost": asdict(cost) | {"tokens": cost.tokens},
        "fitness": None
        if record is None
        else {"summary": record.summary(), "credits": [asdict(c) for c in record.credits]},
        **facts,
    }


def diff(archive: Archive, node_id: str, against: str = "parent") -> dict[str, Any]:
    """The node's diff against its parent, its root (the seed) or any node id."""
    with archive.snapshot():
        item = archive.node(archive.resolve(node_id))
        if against == "parent":
            base = item.parent_id
        elif against == "seed":
            base = archive.lineage(item.id)[0].id
        else:
            base = archive.resolve(against)
        text = archive.diff(base, item.id)  # base None: against nothing (a root's whole code)
    return {"node": item.id, "against": base, "diff": _clip(text)}


def code(archive: Archive, node_id: str) -> dict[str, Any]:
    """The node's files (an agent's code, or a text node's content), each clipped, binary files named only."""
    item = archive.node(archive.resolve(node_id))
    if item.kind != "agent":
        content = item.content or ""
        return {"node": item.id, "files": [{"path": f"{item.kind}.md", "text": content, "size": len(content)}]}
    if item.commit is None:
        return {"node": item.id, "files": []}
    files, budget = [], CODE_LIMIT
    with tempfile.TemporaryDirectory(prefix="opendgm-view-") as scratch:
        root = archive.materialize(item.id, Path(scratch) / "code")
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            raw = path.read_bytes()
            try:
                text: str | None = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None and len(text) > min(FILE_LIMIT, budget):
                text = text[: min(FILE_LIMIT, budget)] + f"\n... clipped: {len(raw)} bytes in all\n"
            budget -= len(text or "")
            files.append({"path": path.relative_to(root).as_posix(), "text": text, "size": len(raw)})
    return {"node": item.id, "files": files}


def self_modification(archive: Archive, node_id: str) -> dict[str, Any]:
    """The self-modification run that made the node (the parent rewriting itself), step by step."""
    item = archive.node(archive.resolve(node_id))
    path = SELF_MODIFICATION_LOG.format(node=item.id)
    if not archive.artifacts.exists(path):
        raise NotFound(f"{item.id} has no self-modification log")
    return {"node": item.id, "path": path, "steps": _steps(archive, path)}


def _clip(text: str) -> str:
    if len(text) <= DIFF_LIMIT:
        return text
    return text[:DIFF_LIMIT] + f"\n... clipped: {len(text) - DIFF_LIMIT} more characters\n"


def _steps(archive: Archive, path: str) -> list[dict[str, Any]]:
    try:
        text = archive.artifacts.read_text(path)
    except (ArchiveError, OSError) as error:
        raise NotFound(f"{path} unreadable: {error}") from None
    return [_step(line) for line in text.splitlines() if line.strip()]


def trajectory(archive: Archive, node_id: str, task_id: str, attempt: int | None = None) -> dict[str, Any]:
    """The steps of a task's trajectory (one JSON object per JSONL line; other lines kept as text)."""
    results = [r for r in archive.results(node_id) if r.task_id == task_id and attempt in (None, r.attempt)]
    if not results:
        raise NotFound(f"node {node_id} has no result for task {task_id!r}")
    result = max(results, key=lambda r: (r.attempt, r.id))
    if not result.trajectory_path:
        raise NotFound(f"the result of {node_id} on {task_id!r} has no trajectory")
    return {
        "node": node_id,
        "task": task_id,
        "attempt": result.attempt,
        "path": result.trajectory_path,
        "steps": _steps(archive, result.trajectory_path),
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
    used = list(itertools.accumulate((call.prompt_tokens + call.completion_tokens for call in calls), initial=0))
    by_node = _running([(count, row) for count, row in enumerate(rows, 1) if row.score is not None])
    scored = sorted((row for row in rows if row.score is not None), key=lambda row: changed[row.id])
    by_spend = _running([(spent[bisect.bisect_right(times, changed[row.id])], row) for row in scored])
    by_tokens = _running([(used[bisect.bisect_right(times, changed[row.id])], row) for row in scored])
    roles: dict[str, dict[str, float]] = {}
    for call in calls:
        role = roles.setdefault(call.role, {"calls": 0, "cost_usd": 0.0, "tokens": 0})
        role["calls"] += 1
        role["cost_usd"] += call.cost_usd
        role["tokens"] += call.prompt_tokens + call.completion_tokens
    return {
        "by_node": by_node,
        "by_spend": by_spend,
        "by_tokens": by_tokens,
        "by_role": roles,
        "total_cost_usd": spent[-1],
        "total_tokens": used[-1],
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
        "events": [asdict(event) | {"text": sentence(event)} for event in page],
        "last": page[-1].id if page else since,
        "more": len(page) == EVENTS_PAGE,
    }
