"""Node summaries (the input of parent selection and of the tree views), kept up to date instead of rescanned.

The first read of a view (an evaluator filter) runs the summary query over every node; later reads re-run it
only for the nodes whose revision (bumped by triggers, see schema.py) passed the last one seen, so a campaign
choosing parents among 10^5 nodes pays for what changed since its previous choice, not for the archive.
Only reads outside a write transaction update the cache: a write can still roll back, and its revision
numbers would then be handed out again.

What a caller derives per row (a selector's weight, the best agent's ranking key) can be kept the same way:
`column(rows, fn, typecode)` is `array(typecode, map(fn, rows))` (a list for typecode ""), recomputed only for the
rows that changed while the list is the newest one, so a selection reads it with C-level passes (numpy over the
array, `max` and `index` over the list) instead of a Python one; and
`Summaries.clade_sums()` (HGM's passes and fails pooled over each node's descendants) is updated by adding a
changed row's difference to its ancestors, not by summing the tree again.
"""

from __future__ import annotations

import itertools
import operator
import sqlite3
import threading
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from opendgm.archive.models import NodeKind, NodeSummary
from opendgm.archive.schema import EXHAUSTED_UNITS

_QUERY = """
    SELECT n.id, n.parent_id, n.kind, n.status, n.status_reason, n.operator, n.code_hash,
           (SELECT COUNT(*) FROM nodes child WHERE child.parent_id = n.id),
           s.stage, COALESCE(ts.n * s.attempts - {exhausted}, 0), COALESCE(t.n_done, 0), COALESCE(t.n_resolved, 0),
           {passes}, {fails}
    FROM nodes n
    LEFT JOIN stages s ON s.id = (SELECT MAX(id) FROM stages WHERE node_id = n.id AND {filters})
    LEFT JOIN task_sets ts ON ts.id = s.set_id
    LEFT JOIN stage_tallies t ON t.stage_id = s.id
    WHERE {nodes}
    ORDER BY n.seq"""
_CHANGED = "n.id IN (SELECT node_id FROM summary_revs WHERE rev > :since)"

Filters = tuple[str | None, str | None]  # (evaluator, evaluator_version); None: any
Derive = Callable[[NodeSummary], Any]
Column = tuple[Derive, str]  # a function of a row and the typecode of the array its values are kept in ("": a list)


def query(conn: sqlite3.Connection, filters: Filters, nodes: str = "1", **params: object) -> list[NodeSummary]:
    """The summaries of the nodes matching the SQL condition `nodes` (on `n`), in creation order."""
    named = {"evaluator": filters[0], "evaluator_version": filters[1]}
    where = " AND ".join(["1", *(f"{k} = :{k}" for k, v in named.items() if v is not None)])
    tally = "COALESCE((SELECT SUM({}) FROM code_tallies WHERE code_hash = n.code_hash AND " + where + "), 0)"
    sql = _QUERY.format(
        exhausted=EXHAUSTED_UNITS,
        passes=tally.format("passes"),
        fails=tally.format("fails"),
        filters=where,
        nodes=nodes,
    )
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples straight into the named tuple
    return [NodeSummary._make(row) for row in cursor.execute(sql, {**named, **params})]


class Summaries(list[NodeSummary]):
    """A list of summaries that can hand out per-row derived columns kept by the cache it came from."""

    _listing: _Listing | None = None  # keeps this list's derived columns and clade sums while it is current
    _sums_from: _Listing | None = None  # keeps only its clade sums (a list made by `rewritten`)
    _base: Summaries | None = None  # the list it rewrote (a list made by `rewritten`)
    _version = -1

    def rewritten(self, rows: Iterable[NodeSummary]) -> Summaries:
        """`rows` in place of these: the same nodes in the same order with the same parents, passes and fails,
        other fields rewritten (a campaign's scoring options, async mode's readiness). Their clade sums stay the
        kept ones; a derived column is these rows' one, with the rows that are not the very objects given here
        computed again (they may read the rewritten fields)."""
        out = Summaries(rows)
        if len(out) != len(self):
            raise ValueError(f"{len(out)} rewritten rows for {len(self)} summaries")
        out._sums_from, out._version, out._base = self._listing or self._sums_from, self._version, self
        return out

    def column(self, fn: Derive, typecode: str) -> array | list[Any]:
        """`fn` of every row, a copy; from the cache (only changed rows recomputed) while this list is current."""
        listing = self._listing
        if listing is not None:
            kept = listing.column((fn, typecode), self._version)
            if kept is not None:
                return kept
        if self._base is not None:
            values = self._base.column(fn, typecode)
            for position in itertools.compress(range(len(self)), map(operator.is_not, self, self._base)):
                values[position] = fn(self[position])
            return values
        return _computed((fn, typecode), self)

    def clade_sums(self) -> tuple[array, array]:
        """Per row (same order), passes and fails pooled with all the row's descendants in this list (a row whose
        parent is not in the list is a root); kept by the cache while this list is current."""
        listing = self._listing or self._sums_from
        kept = listing.clades(self._version) if listing is not None else None
        return kept if kept is not None else clade_sums(self)


def column(rows: Sequence[NodeSummary], fn: Derive, typecode: str) -> array:
    """`fn` of every row as an array of `typecode`, kept by the cache for a list from `Archive.summaries`, else
    computed. `fn` is a module-level function: the cache keeps one column per function."""
    return cast(array, _column(rows, (fn, typecode)))


def values(rows: Sequence[NodeSummary], fn: Derive) -> list[Any]:
    """`column` as a list of any values (ranking keys, rows shown otherwise)."""
    return cast(list, _column(rows, (fn, "")))


def _column(rows: Sequence[NodeSummary], column: Column) -> array | list[Any]:
    return rows.column(*column) if isinstance(rows, Summaries) else _computed(column, rows)


def _computed(column: Column, rows: Iterable[NodeSummary]) -> array | list[Any]:
    fn, typecode = column
    return array(typecode, map(fn, rows)) if typecode else list(map(fn, rows))


def clade_sums(rows: Sequence[NodeSummary]) -> tuple[array, array]:
    """`Summaries.clade_sums` computed afresh: each row added into its parent, children first (reversed creation
    order, in which a parent comes first; else a breadth-first order)."""
    parent = parent_positions(rows, {row.id: position for position, row in enumerate(rows)})
    passes, fails = array("q", (row.passes for row in rows)), array("q", (row.fails for row in rows))
    if all(above < position for position, above in enumerate(parent)):
        order: Sequence[int] = range(len(rows) - 1, -1, -1)
    else:
        order = _breadth_first(parent)[::-1]
    for position in order:
        above = parent[position]
        if above >= 0:
            passes[above] += passes[position]
            fails[above] += fails[position]
    return passes, fails


def parent_positions(rows: Iterable[NodeSummary], index: dict[str, int]) -> list[int]:
    """Each row's parent's position in `index`, -1 for none."""
    return [-1 if row.parent_id is None else index.get(row.parent_id, -1) for row in rows]


def _breadth_first(parent: list[int]) -> list[int]:
    """Row positions from the roots down (iterative: trees can be deep)."""
    children: dict[int, list[int]] = {}
    for position, above in enumerate(parent):
        children.setdefault(above, []).append(position)
    order = list(children.get(-1, []))
    for position in order:  # the list grows while it is walked
        order.extend(children.get(position, []))
    return order


class _Listing:
    """Rows in creation order with an index by id, and columns derived per row, updated in place."""

    def __init__(self, rows: Iterable[NodeSummary]) -> None:
        self.rows = list(rows)
        self.index = {row.id: position for position, row in enumerate(self.rows)}
        self.columns: dict[Column, array | list[Any]] = {}
        self.parents: list[int] = []  # parent positions, kept with the clade sums once asked for
        self.sums: tuple[array, array] | None = None
        self.version = 0
        self._lock = threading.Lock()

    def put(self, changed: list[NodeSummary]) -> None:
        with self._lock:
            for row in changed:
                position = self.index.get(row.id)
                if position is None:
                    self.index[row.id] = position = len(self.rows)
                    self.rows.append(row)
                    for (fn, _), values in self.columns.items():
                        values.append(fn(row))
                    self._add_to_clades(position, row, row.passes, row.fails)
                    continue
                old, self.rows[position] = self.rows[position], row
                for (fn, _), values in self.columns.items():
                    values[position] = fn(row)
                self._add_to_clades(position, row, row.passes - old.passes, row.fails - old.fails)
            self.version += 1

    def _add_to_clades(self, position: int, row: NodeSummary, passes: int, fails: int) -> None:
        """Add a row's change to its own clade and every ancestor's (a node's parent never changes)."""
        if self.sums is None:
            return
        if position == len(self.parents):
            self.parents += parent_positions([row], self.index)
            self.sums[0].append(0)
            self.sums[1].append(0)
        while position >= 0:
            self.sums[0][position] += passes
            self.sums[1][position] += fails
            position = self.parents[position]

    def snapshot(self) -> Summaries:
        with self._lock:
            rows = Summaries(self.rows)
            rows._listing, rows._version = self, self.version
        return rows

    def column(self, column: Column, version: int) -> array | list[Any] | None:
        with self._lock:
            if version != self.version:
                return None
            if column not in self.columns:
                self.columns[column] = _computed(column, self.rows)
            return self.columns[column][:]

    def clades(self, version: int) -> tuple[array, array] | None:
        with self._lock:
            if version != self.version:
                return None
            if self.sums is None:
                self.parents = parent_positions(self.rows, self.index)
                self.sums = clade_sums(self.rows)
            return self.sums[0][:], self.sums[1][:]


class SummaryCache:
    """An archive's summaries per evaluator filter and kind, refreshed from the nodes that changed; shared by the
    handles of one archive opened one after another (a dashboard opens one per request)."""

    def __init__(self) -> None:
        self._views: dict[Filters, tuple[int, dict[NodeKind | None, _Listing]]] = {}
        self._lock = threading.Lock()

    def read(self, conn: sqlite3.Connection, kind: NodeKind | None, filters: Filters) -> Summaries:
        """The summaries of every node (of `kind`, if given), as of `conn`'s current committed snapshot."""
        rev = conn.execute("SELECT COALESCE(MAX(rev), 0) FROM summary_revs").fetchone()[0]
        with self._lock:
            if filters not in self._views:
                self._views[filters] = (rev, {None: _Listing(query(conn, filters))})
            seen, listings = self._views[filters]
            if rev < seen:  # an older snapshot than one already read (another handle sharing this cache)
                rows = query(conn, filters)
                return Summaries(rows if kind is None else [row for row in rows if row.kind == kind])
            if rev > seen:
                changed = query(conn, filters, _CHANGED, since=seen)
                if any(row.kind != listings[None].rows[listings[None].index[row.id]].kind for row in changed
                       if row.id in listings[None].index):  # fmt: skip
                    listings = {None: listings[None]}  # a node changed kind: rebuild the per-kind lists
                for listed, listing in listings.items():
                    listing.put([row for row in changed if listed is None or row.kind == listed])
                self._views[filters] = (rev, listings)
            if kind not in listings:
                listings[kind] = _Listing(row for row in listings[None].rows if row.kind == kind)
            return listings[kind].snapshot()
