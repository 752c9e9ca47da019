"""Task results, stages and scores: the part of `Archive` that records and reads evaluations (`ResultsMixin`).

Invariant 5 (results keyed by code hash, docs/invariants.md).

Results are keyed by (code_hash, evaluator, evaluator_version, task_id, attempt), so nodes with identical code
share them. Scores are never stored: they derive from the results on every read, and `summaries` reads the
tallies that SQLite triggers keep in the same transaction as each result (see schema.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from opendgm.archive import summaries
from opendgm.archive.db import Database
from opendgm.archive.errors import ArchiveError
from opendgm.archive.models import (
    RESULT_STATUSES,
    EvaluatorKey,
    Node,
    NodeKind,
    NodeSummary,
    ResultRecord,
    Score,
    TaskResult,
)
from opendgm.archive.rows import insert_row, to_result
from opendgm.archive.schema import EXHAUSTED_UNITS

_RESULT_COLUMNS = ", ".join(f.name for f in fields(TaskResult))

# Per-stage aggregates, recomputed from the results on every read so they can never disagree with them.
_STAGE_SCORES = """
    SELECT s.id AS stage_id, s.node_id, s.evaluator, s.evaluator_version, s.stage,
           ts.n * s.attempts - {exhausted} AS n_tasks, COUNT(r.id) AS n_done, COALESCE(SUM(r.resolved), 0) AS n_resolved
    FROM stages s
    JOIN nodes n ON n.id = s.node_id
    JOIN task_sets ts ON ts.id = s.set_id
    JOIN task_set_items i ON i.set_id = s.set_id
    LEFT JOIN results r ON r.code_hash = n.code_hash AND r.evaluator = s.evaluator
        AND r.evaluator_version = s.evaluator_version AND r.task_id = i.task_id AND r.attempt < s.attempts
    WHERE {where}
    GROUP BY s.id
"""
# The same aggregates for every stage at once, read from the trigger-kept tallies (schema.py; a test holds them
# equal to the derivation above): the whole-archive views would otherwise join 10^5 results per read.
_TALLIED_SCORES = """
    SELECT s.id AS stage_id, s.node_id, s.evaluator, s.evaluator_version, s.stage,
           ts.n * s.attempts - {exhausted} AS n_tasks, t.n_done, t.n_resolved
    FROM stages s
    JOIN task_sets ts ON ts.id = s.set_id
    JOIN stage_tallies t ON t.stage_id = s.id
    WHERE {where}
"""


class ResultsMixin:
    """`Archive`'s results, stages and scores; it relies on these members of `Archive`."""

    _db: Database
    _summary_cache: summaries.SummaryCache
    _write: Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]]
    _get: Callable[[sqlite3.Connection, str], Node]
    _event: Callable[[sqlite3.Connection, str, str | None, Mapping[str, Any]], int]

    # --------------------------------------------------------------------------------- results

    def record_result(self, record: ResultRecord) -> TaskResult:
        """Record one graded attempt of `record.node_id`'s code (`resolved` is `status == "resolved"`).
        Idempotent: when (code hash, evaluator, version, task, attempt) already has a result, that row is
        returned unchanged and nothing is written."""
        status, attempt, (evaluator, evaluator_version) = record.status, record.attempt, record.evaluator
        if status not in RESULT_STATUSES:
            raise ArchiveError(f"unknown result status {status!r}; expected one of {sorted(RESULT_STATUSES)}")
        if attempt < 0:
            raise ArchiveError("attempt numbers start at 0")
        with self._write() as conn:
            code_hash = self._get(conn, record.node_id).code_hash
            if code_hash is None:
                raise ArchiveError(f"node {record.node_id} has no code yet, so it has no results")
            key = (code_hash, evaluator, evaluator_version, record.task_id, attempt)
            row = {
                "code_hash": code_hash,
                "evaluator": evaluator,
                "evaluator_version": evaluator_version,
                "task_id": record.task_id,
                "attempt": attempt,
                "node_id": record.node_id,
                "status": status,
                "tests_passed": record.tests_passed,
                "tests_failed": record.tests_failed,
                "exit_code": record.exit_code,
                "duration_s": record.duration_s,
                "log_path": record.log_path,
                "trajectory_path": record.trajectory_path,
                "patch_path": record.patch_path,
                "cost_usd": record.cost_usd,
                "tokens": record.tokens,
                "detail": record.detail,
                "created_at": time.time(),
            }
            if insert_row(conn, "results", row, " ON CONFLICT DO NOTHING").rowcount:
                data = {"evaluator": evaluator, "task_id": record.task_id, "attempt": attempt, "status": status}
                self._event(conn, "result", record.node_id, data)
            found = self._result(conn, key)
        assert found is not None
        return found

    @staticmethod
    def _result(conn: sqlite3.Connection, key: tuple[str | None, str, str, str, int]) -> TaskResult | None:
        row = conn.execute(
            f"SELECT {_RESULT_COLUMNS} FROM results WHERE code_hash = ? AND evaluator = ?"
            " AND evaluator_version = ? AND task_id = ? AND attempt = ?",
            key,
        ).fetchone()
        return to_result(row) if row else None

    def cached_result(
        self, node_id: str, evaluator: str, evaluator_version: str, task_id: str, attempt: int = 0
    ) -> TaskResult | None:
        """The result this node's code already has for the task, from any node with identical code."""
        with self._db.read() as conn:
            code_hash = self._get(conn, node_id).code_hash
            return self._result(conn, (code_hash, evaluator, evaluator_version, task_id, attempt))

    def results(
        self, node_id: str, evaluator: str | None = None, evaluator_version: str | None = None
    ) -> list[TaskResult]:
        """Every result of this node's code (shared with identical code), oldest first."""
        filters = [("evaluator", evaluator), ("evaluator_version", evaluator_version)]
        extra = "".join(f" AND {column} = ?" for column, value in filters if value is not None)
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {_RESULT_COLUMNS} FROM results WHERE code_hash = (SELECT code_hash FROM nodes"
                f" WHERE id = ?){extra} ORDER BY id",
                [node_id, *(value for _, value in filters if value is not None)],
            ).fetchall()
        return [to_result(row) for row in rows]

    # ----------------------------------------------------------------------------------- stages

    def record_stage(
        self,
        node_id: str,
        evaluator: str,
        evaluator_version: str,
        stage: str,
        task_ids: Sequence[str],
        attempts: int = 1,
    ) -> Score:
        """Declare that the node is (being) evaluated on `stage`'s task list and return its score so
        far (results cached from identical code count at once). For cumulative stages (DGM: 10, then
        those 10 plus 50) list every task: the ones already graded are not run again. Re-declaring the
        same list is a no-op; a different list for a declared stage is an ArchiveError."""
        tasks = list(task_ids)
        if not tasks or len(set(tasks)) != len(tasks):
            raise ArchiveError(f"stage {stage!r} needs a non-empty list of distinct task ids")
        if attempts < 1:
            raise ArchiveError("a stage runs each task at least once (attempts >= 1)")
        with self._write() as conn:
            if self._get(conn, node_id).code_hash is None:
                raise ArchiveError(f"node {node_id} has no code yet, so it cannot be evaluated")
            stage_row = {
                "node_id": node_id,
                "evaluator": evaluator,
                "evaluator_version": evaluator_version,
                "stage": stage,
                "set_id": self._task_set(conn, tasks),
                "attempts": attempts,
                "created_at": time.time(),
            }
            declared = conn.execute(
                "SELECT set_id, attempts FROM stages WHERE node_id = ? AND evaluator = ? AND evaluator_version = ?"
                " AND stage = ?",
                (node_id, evaluator, evaluator_version, stage),
            ).fetchone()
            if declared is None:
                insert_row(conn, "stages", stage_row)
                data = {"evaluator": evaluator, "evaluator_version": evaluator_version, "stage": stage}
                self._event(conn, "stage", node_id, data | {"n_tasks": len(tasks), "attempts": attempts})
            elif tuple(declared) != (stage_row["set_id"], attempts):
                raise ArchiveError(
                    f"node {node_id} already has stage {stage!r} of {evaluator} {evaluator_version}"
                    " with a different task list or attempt count"
                )
            key = (evaluator, evaluator_version, stage)
            return next(s for s in self.scores(node_id) if (s.evaluator, s.evaluator_version, s.stage) == key)

    @staticmethod
    def _task_set(conn: sqlite3.Connection, tasks: list[str]) -> int:
        """The id of this exact task list, stored once however many stages use it."""
        digest = hashlib.sha256("\x00".join(tasks).encode()).hexdigest()
        row = conn.execute("SELECT id FROM task_sets WHERE digest = ?", (digest,)).fetchone()
        if row is not None:
            return row[0]
        set_id = insert_row(conn, "task_sets", {"digest": digest, "n": len(tasks)}).lastrowid
        conn.executemany(
            "INSERT INTO task_set_items (set_id, task_id, position) VALUES (?, ?, ?)",
            [(set_id, task, position) for position, task in enumerate(tasks)],
        )
        return set_id  # type: ignore[return-value]

    def scores(self, node_id: str) -> list[Score]:
        """Per declared stage, in declaration order: n_tasks, n_done, n_resolved, score."""
        return self._scores(_STAGE_SCORES, "s.node_id = ?", (node_id,)).get(node_id, [])

    def scores_by_node(self) -> dict[str, list[Score]]:
        """`scores` of every node that has stages, in one query over the tallies (tree views, dashboards)."""
        return self._scores(_TALLIED_SCORES, "1", ())

    def _scores(self, query: str, where: str, params: tuple[str, ...]) -> dict[str, list[Score]]:
        found: dict[str, list[Score]] = {}
        with self._db.read() as conn:
            cursor = conn.cursor()
            cursor.row_factory = None  # plain tuples, read by position (10^4 rows for the whole-tree views)
            for row in cursor.execute(query.format(where=where, exhausted=EXHAUSTED_UNITS) + " ORDER BY s.id", params):
                found.setdefault(row[1], []).append(Score(*row[2:]))
        return found

    def infra_exhausted(self, node_id: str | None = None) -> set[tuple[str, str]]:
        """(node, task) pairs given up after repeated infrastructure failures (of `node_id`, if given)."""
        where, params = ("WHERE node_id = ?", (node_id,)) if node_id else ("", ())
        with self._db.read() as conn:
            return {
                (row[0], row[1])
                for row in conn.execute(f"SELECT node_id, task_id FROM infra_exhausted {where}", params)
            }

    def best_score(self, node_id: str, evaluator: str | None = None) -> float | None:
        """The score of the node's latest (deepest) stage, of `evaluator` if given; None if it has none."""
        scores = [s for s in self.scores(node_id) if evaluator is None or s.evaluator == evaluator]
        return scores[-1].score if scores else None

    def missing_tasks(self, node_id: str, evaluator: str, evaluator_version: str, stage: str) -> list[tuple[str, int]]:
        """(task_id, attempt) pairs of a declared stage that have no result yet: what is left to run."""
        with self._db.read() as conn:
            rows = conn.execute(
                """WITH RECURSIVE attempt(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM attempt
                       WHERE k + 1 < (SELECT attempts FROM stages WHERE node_id = :node AND evaluator = :ev
                                      AND evaluator_version = :ver AND stage = :stage))
                   SELECT i.task_id, attempt.k FROM stages s
                   JOIN nodes n ON n.id = s.node_id
                   JOIN task_set_items i ON i.set_id = s.set_id
                   JOIN attempt
                   LEFT JOIN results r ON r.code_hash = n.code_hash AND r.evaluator = s.evaluator
                       AND r.evaluator_version = s.evaluator_version AND r.task_id = i.task_id AND r.attempt = attempt.k
                   WHERE s.node_id = :node AND s.evaluator = :ev AND s.evaluator_version = :ver AND s.stage = :stage
                       AND r.id IS NULL
                   ORDER BY i.position, attempt.k""",
                {"node": node_id, "ev": evaluator, "ver": evaluator_version, "stage": stage},
            ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def summaries(
        self,
        kind: NodeKind | None = "agent",
        evaluator: EvaluatorKey | str | None = None,
        evaluator_version: str | None = None,
    ) -> list[NodeSummary]:
        """One row per node with its children count, latest-stage score and pass/fail counts, read from the
        trigger-kept tallies (see schema.py) and kept between calls (see summaries.py): only the nodes that
        changed since the last call are queried again, so parent selection stays fast at 10^5 nodes. The
        input of parent selection (DGM's score_child_prop, HGM's clade statistics) and of the tree views.

        Stages and results count under `evaluator`, an `EvaluatorKey`; or, as before the key existed, a name and
        optionally `evaluator_version` (a name alone: any version); None: every evaluator."""
        if isinstance(evaluator, EvaluatorKey):
            if evaluator_version is not None:
                raise TypeError("summaries takes an EvaluatorKey or a name and version, not both")
            evaluator, evaluator_version = evaluator
        filters = (evaluator, evaluator_version)
        with self._db.read() as conn:
            if self._db.writing:  # inside a write that may still roll back: read, never remember
                rows = summaries.query(conn, filters)
                return rows if kind is None else [row for row in rows if row.kind == kind]
            return self._summary_cache.read(conn, kind, filters)
