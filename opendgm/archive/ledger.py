"""The campaign's ledger of model calls, kept in `archive.sqlite` so spend survives with the archive.

Satisfies `opendgm.llm.ledger.Ledger`. A record's `id` is its primary key: recording it again replaces a
`pending` row (the call has completed) and is a no-op otherwise, so a call re-recorded after a crash is
never counted twice, and a call in flight when the process died is still there (invariant 3: state durable
before it is acted on).
"""

from __future__ import annotations

from dataclasses import astuple
from typing import Literal

from opendgm.archive.db import Database
from opendgm.llm import CALLS, PENDING, RECORD, TOTALS, CallRecord, Totals, call_from_row, scope

Group = Literal["node", "role", "purpose", "model", "operator"]  # what calls can be totalled by
_GROUPS = {name: name for name in ("node", "role", "purpose", "model")}
_GROUPS["operator"] = (  # "?" for a node without one
    "CASE WHEN node IS NULL THEN NULL ELSE COALESCE((SELECT operator FROM nodes WHERE nodes.id = node), '?') END"
)
INTERRUPTED = "the process stopped while the call was in flight; its spend is the conservative estimate"


class ArchiveLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, call: CallRecord) -> None:
        with self._db.write() as conn:
            conn.execute(RECORD, astuple(call))

    def settle_interrupted(self) -> int:
        """Calls left pending by a killed writer become `interrupted`, spending their estimate."""
        with self._db.write() as conn:
            return conn.execute(
                "UPDATE llm_calls SET outcome = 'interrupted', error = ? WHERE outcome = ?", (INTERRUPTED, PENDING)
            ).rowcount

    def totals(self, campaign: str | None = None, node: str | None = None) -> Totals:
        where, args = scope(campaign, node)
        with self._db.read() as conn:
            return Totals(*conn.execute(TOTALS.format(scope=where), args).fetchone())

    def totals_by(self, column: Group, campaign: str | None = None) -> dict[str | None, Totals]:
        """`totals` per node, role, purpose, model, or operator of the node charged (None: no node), in one query:
        views over every node must not ask once per node."""
        if column not in _GROUPS:
            raise ValueError(f"cannot group model calls by {column!r}")
        where, args = scope(campaign, None)
        group = _GROUPS[column]
        query = TOTALS.replace("SELECT ", f"SELECT {group}, ", 1).format(scope=where) + f" GROUP BY {group}"
        with self._db.read() as conn:
            return {row[0]: Totals(*row[1:]) for row in conn.execute(query, args).fetchall()}

    def totals_until(self, ts: float, campaign: str | None = None) -> Totals:
        """`totals` of the calls recorded up to time `ts` (a Unix time)."""
        where, args = scope(campaign, None)
        with self._db.read() as conn:
            return Totals(*conn.execute(TOTALS.format(scope=f"{where} AND ts <= ?"), [*args, ts]).fetchone())

    def spending(self) -> list[tuple[float, float, int, str]]:
        """(time, dollars, tokens, role) of every call, oldest first (ties in recording order), the campaign's whole
        spend in one lean query: a dashboard's spend curve must not build a record per call."""
        with self._db.read() as conn:
            return conn.execute(
                "SELECT ts, cost_usd, prompt_tokens + completion_tokens, role FROM llm_calls ORDER BY ts, rowid"
            ).fetchall()

    def calls(self, campaign: str | None = None, node: str | None = None) -> list[CallRecord]:
        where, args = scope(campaign, node)
        with self._db.read() as conn:
            rows = conn.execute(CALLS.format(scope=where), args).fetchall()
        return [call_from_row(row) for row in rows]
