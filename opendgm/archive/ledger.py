"""The campaign's ledger of model calls, kept in `archive.sqlite` so spend survives with the archive.

Satisfies `opendgm.llm.ledger.Ledger`. A record's `id` is its primary key and inserting it again is a
no-op, so a call re-recorded after a crash is never counted twice (invariant 3).
"""

from __future__ import annotations

from dataclasses import astuple, fields

from opendgm.archive.db import Database
from opendgm.llm.ledger import CallRecord, Totals

COLUMNS = tuple(f.name for f in fields(CallRecord))


class ArchiveLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, call: CallRecord) -> None:
        marks = ", ".join("?" * len(COLUMNS))
        with self._db.write() as conn:
            conn.execute(f"INSERT OR IGNORE INTO llm_calls ({', '.join(COLUMNS)}) VALUES ({marks})", astuple(call))

    @staticmethod
    def _where(campaign: str | None, node: str | None) -> tuple[str, list[str]]:
        scope = {key: value for key, value in (("campaign", campaign), ("node", node)) if value is not None}
        clauses = " AND ".join(f"{key} = ?" for key in scope)
        return (f" WHERE {clauses}" if clauses else ""), list(scope.values())

    def totals(self, campaign: str | None = None, node: str | None = None) -> Totals:
        where, args = self._where(campaign, node)
        query = (
            "SELECT COUNT(*), COALESCE(SUM(outcome != 'ok'), 0), COALESCE(SUM(prompt_tokens), 0),"
            f" COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_usd), 0.0) FROM llm_calls{where}"
        )
        with self._db.read() as conn:
            return Totals(*conn.execute(query, args).fetchone())

    def calls(self, campaign: str | None = None, node: str | None = None) -> list[CallRecord]:
        where, args = self._where(campaign, node)
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM llm_calls{where} ORDER BY ts", args).fetchall()
        return [CallRecord(**(dict(row) | {"replayed": bool(row["replayed"])})) for row in rows]
