"""The campaign's ledger of model calls, kept in `archive.sqlite` so spend survives with the archive.

Satisfies `opendgm.llm.ledger.Ledger`. A record's `id` is its primary key: recording it again replaces a
`pending` row (the call has completed) and is a no-op otherwise, so a call re-recorded after a crash is
never counted twice, and a call in flight when the process died is still there (invariant 3).
"""

from __future__ import annotations

from dataclasses import astuple, fields

from opendgm.archive.db import Database
from opendgm.llm.ledger import PENDING, TOTALS, CallRecord, Totals

COLUMNS = tuple(f.name for f in fields(CallRecord))
INTERRUPTED = "the process stopped while the call was in flight; its spend is the conservative estimate"


class ArchiveLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, call: CallRecord) -> None:
        marks = ", ".join("?" * len(COLUMNS))
        updates = ", ".join(f"{column} = excluded.{column}" for column in COLUMNS if column != "id")
        with self._db.write() as conn:
            conn.execute(
                f"INSERT INTO llm_calls ({', '.join(COLUMNS)}) VALUES ({marks})"
                f" ON CONFLICT (id) DO UPDATE SET {updates} WHERE llm_calls.outcome = '{PENDING}'",
                astuple(call),
            )

    def settle_interrupted(self) -> int:
        """Calls left pending by a killed writer become `interrupted`, spending their estimate."""
        with self._db.write() as conn:
            return conn.execute(
                "UPDATE llm_calls SET outcome = 'interrupted', error = ? WHERE outcome = ?", (INTERRUPTED, PENDING)
            ).rowcount

    @staticmethod
    def _where(campaign: str | None, node: str | None) -> tuple[str, list[str]]:
        scope = {key: value for key, value in (("campaign", campaign), ("node", node)) if value is not None}
        clauses = " AND ".join(f"{key} = ?" for key in scope)
        return (f" WHERE {clauses}" if clauses else ""), list(scope.values())

    def totals(self, campaign: str | None = None, node: str | None = None) -> Totals:
        where, args = self._where(campaign, node)
        with self._db.read() as conn:
            return Totals(*conn.execute(TOTALS.format(where=where), args).fetchone())

    def calls(self, campaign: str | None = None, node: str | None = None) -> list[CallRecord]:
        where, args = self._where(campaign, node)
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM llm_calls{where} ORDER BY ts", args).fetchall()
        return [CallRecord(**(dict(row) | {"replayed": bool(row["replayed"])})) for row in rows]
