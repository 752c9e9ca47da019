"""What the dashboard and the plots show, as JSON-ready dicts read from one archive snapshot.

Kept apart from HTTP so `opendgm plot` draws exactly what the browser sees.
"""

from __future__ import annotations

import bisect
import itertools
import json
import operator
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict
from functools import partial
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
from opendgm.web.layout import TidyLayout, tidy_layout

TREE_FIELDS = (
    "id", "parent", "kind", "status", "operator", "score", "stage", "x", "depth",
    "passes", "fails", "children", "cost_usd", "tokens", "reason",
)  # fmt: skip
# The fields without the server's x: the browser lays the tree out itself (with folding), and without x a new node
# changes its own row, not the half of the rows to its right whose column moved.
BROWSER_FIELDS = tuple(field for field in TREE_FIELDS if field != "x")
DIFF_LIMIT = 400_000  # characters of diff sent to the browser; the rest is summarised
CODE_LIMIT = 2_000_000  # characters of an agent's code sent to the browser, all files together
FILE_LIMIT = 300_000  # characters of one file
SELF_MODIFICATION_PATCH = "nodes/{node}/self_improve.patch"  # written by opendgm.evaluators.self_modification
EVENTS_PAGE = 1000


class NotFound(LookupError):
    """The request names something this archive does not hold (answered with 404)."""


def tree(archive: Archive, with_x: bool = True) -> dict[str, Any]:
    """Every node as a compact row (fields in `TREE_FIELDS`, or `BROWSER_FIELDS` without `with_x`) with its layout,
    plus typed edges and the best agent with the path that led to it."""
    campaign, rows, edges, spent = _tree_inputs(archive)
    place = tidy_layout((row.id, row.parent_id) for row in rows)
    cut = 0 if with_x else 1  # (x, depth) or (depth,)
    nodes = [[*_facts(row), *place[row.id][cut:], *_spending(row, spent)] for row in rows]
    fields = TREE_FIELDS if with_x else BROWSER_FIELDS
    return {"campaign": campaign, "fields": fields, "nodes": nodes} | _tree_rest(rows, edges)


class TreeCache:
    """The last tree of one campaign as JSON, kept and updated from what changed. While the archive's rows, edges
    and spending compare equal (C-level comparisons; unchanged rows are the very objects the summary cache keeps)
    the kept JSON is the answer. Otherwise only the nodes whose summary or spending changed are serialised again,
    new nodes extend the kept layout (`TidyLayout.add`: the nodes right of a new one move one column), a moved
    node gets only its new x written (each row is kept as three texts: before its x, its x, after it), and the
    texts are joined in one C-level pass: a dashboard polling a 10^4-10^5 node tree pays for what changed, not for
    the tree (equal, byte for byte, to `tree(archive, with_x)`; without x no row moves)."""

    def __init__(self, with_x: bool = True) -> None:
        self.with_x = with_x
        self._made_from: tuple | None = None
        self._body = b""
        self._layout: TidyLayout | None = None  # of the kept rows
        self._rows: list[NodeSummary] = []  # what each kept row was made from, in the same order
        self._spent: dict[str | None, Totals] = {}
        self._before: list[str] = []  # each row's JSON before its x (with the comma that separates it from the last)
        self._x: list[str] = []  # each row's x and its comma (with_x only)
        self._after: list[str] = []  # each row's JSON after its x (depth and the rest)
        self._lock = threading.Lock()

    def tree_json(self, archive: Archive) -> bytes:
        """`tree(archive, self.with_x)` as compact UTF-8 JSON."""
        inputs = _tree_inputs(archive)
        with self._lock:
            if inputs != self._made_from:
                self._update(*inputs)
            return self._body

    def _update(
        self, campaign: str, rows: list[NodeSummary], edges: list[Edge], spent: dict[str | None, Totals]
    ) -> None:
        kept, layout = min(len(self._rows), len(rows)), self._layout
        stale = set(range(kept, len(rows)))  # rows to serialise again: new ones, and (C-level walk) changed ones
        stale.update(itertools.compress(range(kept), map(operator.is_not, rows, self._rows)))
        if (
            layout is None
            or len(rows) < len(self._rows)
            or any(layout.shape[p] != (rows[p].id, rows[p].parent_id) for p in stale if p < kept)
        ):
            layout = None  # a node changed parent (or a node the layout holds is gone): start afresh
        if spent != self._spent:
            index = layout.index if layout is not None else {row.id: position for position, row in enumerate(rows)}
            changed = {node for node in spent.keys() | self._spent.keys() if spent.get(node) != self._spent.get(node)}
            stale.update(index[node] for node in changed if node in index and index[node] < len(rows))
        moved: set[int] = set()  # rows whose place changed
        for row in rows[kept:]:
            change = layout.add(row.id, row.parent_id) if layout is not None else None
            if change is None:
                layout = None
                break
            if self.with_x:
                moved.update(change)
        if layout is None:
            layout, stale = TidyLayout((row.id, row.parent_id) for row in rows), set(range(len(rows)))
            self._before, self._x, self._after = [""] * len(rows), [""] * len(rows), [""] * len(rows)
        for texts in self._before, self._x, self._after:
            texts += [""] * (len(rows) - len(texts))
        for position in stale:
            row, depth = rows[position], layout.depth[position]
            self._before[position] = ("," if position else "") + _dumps(_facts(row))[:-1] + ","
            self._after[position] = f"{depth}," + _dumps(_spending(row, spent))[1:]
        parts: list[list[str]] = [self._before, self._after]
        if self.with_x:
            redo = list(stale | moved)  # a new node moves about half the rows: their x alone is written again
            for position, x in zip(redo, map("{!r},".format, layout.xs(redo)), strict=True):
                self._x[position] = x
            parts.insert(1, self._x)
        head = _dumps({"campaign": campaign, "fields": TREE_FIELDS if self.with_x else BROWSER_FIELDS})[:-1]
        rest = _tree_rest(rows, edges, partial(_lineage, layout))
        nodes = "".join(itertools.chain.from_iterable(zip(*parts, strict=True)))
        body = f'{head},"nodes":[{nodes}],{_dumps(rest)[1:]}'
        self._made_from, self._body = (campaign, rows, edges, spent), body.encode()
        self._layout, self._rows, self._spent = layout, rows, spent


def _dumps(value: object) -> str:
    """Compact JSON as the endpoint sends it (the same text a value has inside a larger document; a float is its
    `repr`, so a row's place can be written between its kept ends)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _tree_inputs(archive: Archive) -> tuple[str, list[NodeSummary], list[Edge], dict[str | None, Totals]]:
    with archive.snapshot():
        return archive.campaign, archive.summaries(kind=None), archive.edges(), archive.ledger.totals_by("node")


def _facts(row: NodeSummary) -> list[Any]:
    """A node row's fields before its place (x, depth)."""
    return [row.id, row.parent_id, row.kind, row.status, row.operator, row.score, row.stage]


def _spending(row: NodeSummary, spent: dict[str | None, Totals]) -> list[Any]:
    """A node row's fields after its place."""
    used = spent.get(row.id, _NOTHING)
    return [row.passes, row.fails, row.n_children, used.cost_usd, used.tokens, row.status_reason]


_NOTHING = Totals()


def _lineage(layout: TidyLayout, node_id: str) -> list[str]:
    """`best_path` from the layout's parent positions (no pass over every row)."""
    path, position = [], layout.index[node_id]
    while position >= 0:
        path.append(layout.ids[position])
        position = layout.parent[position]
    return path[::-1]


def _tree_rest(
    rows: list[NodeSummary], edges: list[Edge], lineage: Callable[[str], list[str]] | None = None
) -> dict[str, Any]:
    """The tree's fields after its nodes: typed edges, the best agent and the path to it."""
    chosen = best_agent(rows)
    return {
        "edges": [[edge.src, edge.dst, edge.kind] for edge in edges],
        "best": None if chosen is None else {"id": chosen.id, "value": chosen.value, "summary": chosen.describe()},
        "best_note": None if chosen else why_none(),
        "best_path": (lineage or partial(best_path, rows))(chosen.id) if chosen else [],
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

    A node's spend is the ledger total up to its last status change (when its score became known). Read in three
    lean queries (summaries, when each agent became known, the calls' time, cost, tokens and role) and built in
    C-level passes: a two-week campaign has 10^5 agents and more calls."""
    with archive.snapshot():
        rows = archive.summaries()
        known_at = archive.known_at()
        calls = archive.ledger.spending()
    times, costs, tokens, _ = zip(*calls, strict=True) if calls else ((), (), (), ())
    spent = list(itertools.accumulate(costs, initial=0.0))
    used = list(itertools.accumulate(tokens, initial=0))
    has_score = [row.stage is not None for row in rows]  # `NodeSummary.score` is None exactly without a stage
    by_node = _running(itertools.compress(itertools.count(1), has_score), list(itertools.compress(rows, has_score)))
    scored = sorted(itertools.compress(rows, has_score), key=lambda row: known_at[row.id])
    at = [bisect.bisect_right(times, known_at[row.id]) for row in scored]
    roles: dict[str, dict[str, float]] = {}
    for _, cost, count, role in calls:
        totals = roles.setdefault(role, {"calls": 0, "cost_usd": 0.0, "tokens": 0})
        totals["calls"] += 1
        totals["cost_usd"] += cost
        totals["tokens"] += count
    return {
        "by_node": by_node,
        "by_spend": _running(map(spent.__getitem__, at), scored),
        "by_tokens": _running(map(used.__getitem__, at), scored),
        "by_role": roles,
        "total_cost_usd": spent[-1],
        "total_tokens": used[-1],
        "agents": len(rows),
        "scored": len(scored),
    }


def _running(xs: Iterable[float], rows: list[NodeSummary]) -> list[dict[str, Any]]:
    """Best-so-far and mean-so-far of the rows' scores, in the order given, at each x (running max and sum in
    C-level passes, in the same order as a loop would add them)."""
    scores = [score for row in rows if (score := row.score) is not None]  # every row given is scored
    best = itertools.islice(itertools.accumulate(scores, max, initial=0.0), 1, None)
    total = itertools.islice(itertools.accumulate(scores, initial=0.0), 1, None)
    return [
        {"x": x, "id": row.id, "score": score, "best": top, "mean": sum_ / count}
        for count, (x, row, score, top, sum_) in enumerate(zip(xs, rows, scores, best, total, strict=True), 1)
    ]


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
