"""The ledger: one row per model call, success or failure (invariant 4: every model call recorded and budgeted).

The budget reads spend back from the ledger, so whatever survives a crash is what has been spent. The
protocol is deliberately two methods wide so that the campaign archive's SQLite can become the ledger.

A call that leaves the host is first recorded `pending`, carrying its conservative estimate; its final
record (same id) replaces that row. A process killed in between leaves the pending row, which the archive
settles as `interrupted` when it is next opened for writing, so the call is never lost and its spend is
counted at the estimate. Totals leave pending rows out: while a call is in flight the budget's holds
count it. Totals count a negative number in a row as 0: no row, whoever wrote it, pays spend back.

`prompt_tokens` counts every prompt token; `cache_read_tokens` and `cache_write_tokens` are the parts of them the
provider read from or wrote to its prompt cache (priced apart). A ledger file written before those columns existed
gains them, as 0, when it is opened.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import astuple, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Protocol

Outcome = Literal["ok", "error", "refused", "pending", "interrupted"]
PENDING: Outcome = "pending"


@dataclass(frozen=True)
class CallRecord:
    """One model call as the framework saw it. `refused` calls never left the host."""

    campaign: str
    node: str | None
    role: str
    purpose: str
    model: str
    outcome: Outcome
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    attempts: int = 0
    replayed: bool = False
    error_class: str | None = None
    error: str | None = None
    request_hash: str = ""
    cache_read_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    cache_write_tokens: int = 0  # of prompt_tokens, written to it
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ts: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Totals:
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, name) + getattr(other, name) for name in _TOTALS))

    @property
    def cache_hit_rate(self) -> float | None:
        """The share of prompt tokens read from a provider's cache (None without prompt tokens)."""
        return self.cache_read_tokens / self.prompt_tokens if self.prompt_tokens else None


_TOTALS = [f.name for f in fields(Totals)]


class Ledger(Protocol):
    def record(self, call: CallRecord) -> None:
        """Add the call; a record whose id is already there replaces it only if that row is pending."""
        ...

    def totals(self, campaign: str | None = None, node: str | None = None) -> Totals: ...


def total_of(calls: list[CallRecord]) -> Totals:
    """The spend of `calls`: pending rows left out (a hold counts them), negative numbers as 0."""
    calls = [c for c in calls if c.outcome != PENDING]
    return Totals(
        calls=len(calls),
        errors=sum(c.outcome != "ok" for c in calls),
        prompt_tokens=sum(max(c.prompt_tokens, 0) for c in calls),
        completion_tokens=sum(max(c.completion_tokens, 0) for c in calls),
        cost_usd=sum(max(c.cost_usd, 0.0) for c in calls),
        cache_read_tokens=sum(max(c.cache_read_tokens, 0) for c in calls),
        cache_write_tokens=sum(max(c.cache_write_tokens, 0) for c in calls),
    )


class MemoryLedger:
    """For tests and one-off commands."""

    def __init__(self) -> None:
        self._calls: dict[str, CallRecord] = {}  # by id, in recording order
        self._lock = threading.Lock()

    def record(self, call: CallRecord) -> None:
        with self._lock:
            known = self._calls.get(call.id)
            if known is None or known.outcome == PENDING:
                self._calls[call.id] = call

    def calls(self, campaign: str | None = None, node: str | None = None) -> list[CallRecord]:
        with self._lock:
            return [
                c
                for c in self._calls.values()
                if (campaign is None or c.campaign == campaign) and (node is None or c.node == node)
            ]

    def totals(self, campaign: str | None = None, node: str | None = None) -> Totals:
        return total_of(self.calls(campaign, node))


_COLUMNS = [f.name for f in fields(CallRecord)]
# The SQL of both SQLite ledgers (this file's and the campaign archive's), over an `llm_calls` table whose
# `id` is unique. Recording replaces a pending row with its call's final record and leaves any other row
# as first written; totals leave pending rows out and count negatives as 0. `{scope}` comes from `scope()`.
RECORD = (
    f"INSERT INTO llm_calls ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    f" ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _COLUMNS if c != 'id')}"
    f" WHERE llm_calls.outcome = '{PENDING}'"
)
TOTALS = (
    "SELECT COUNT(*), COALESCE(SUM(outcome != 'ok'), 0), COALESCE(SUM(MAX(prompt_tokens, 0)), 0),"
    " COALESCE(SUM(MAX(completion_tokens, 0)), 0), COALESCE(SUM(MAX(cost_usd, 0.0)), 0.0),"
    " COALESCE(SUM(MAX(cache_read_tokens, 0)), 0), COALESCE(SUM(MAX(cache_write_tokens, 0)), 0)"
    f" FROM llm_calls WHERE outcome != '{PENDING}' AND {{scope}}"
)
# Columns added after the first ledgers were written: (name, SQL type and default) for `ALTER TABLE ... ADD COLUMN`.
_ADDED_COLUMNS = (
    ("cache_read_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("cache_write_tokens", "INTEGER NOT NULL DEFAULT 0"),
)
CALLS = f"SELECT {', '.join(_COLUMNS)} FROM llm_calls WHERE {{scope}} ORDER BY ts"


def scope(campaign: str | None, node: str | None) -> tuple[str, list[str]]:
    """The SQL condition for one campaign and/or node ("1": every row) and its arguments."""
    chosen = [(column, value) for column, value in (("campaign", campaign), ("node", node)) if value is not None]
    return " AND ".join(f"{column} = ?" for column, _ in chosen) or "1", [value for _, value in chosen]


def call_from_row(row: Sequence[Any]) -> CallRecord:
    """A CallRecord from a row of `CALLS` (SQLite stores `replayed` as an integer)."""
    values = dict(zip(_COLUMNS, row, strict=True))
    return CallRecord(**(values | {"replayed": bool(values["replayed"])}))


class SQLiteLedger:
    """A file-backed ledger; every row is committed before `record` returns."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"CREATE TABLE IF NOT EXISTS llm_calls ({', '.join(_COLUMNS)})")
        present = {row[1] for row in self._db.execute("PRAGMA table_info(llm_calls)")}
        for column, kind in _ADDED_COLUMNS:
            if column not in present:  # a ledger file from before the column existed
                self._db.execute(f"ALTER TABLE llm_calls ADD COLUMN {column} {kind}")
        self._db.execute("CREATE INDEX IF NOT EXISTS llm_calls_scope ON llm_calls (campaign, node)")
        self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS llm_calls_id ON llm_calls (id)")  # for RECORD
        self._lock = threading.Lock()

    def record(self, call: CallRecord) -> None:
        with self._lock:
            self._db.execute(RECORD, astuple(call))

    def calls(self, campaign: str | None = None, node: str | None = None) -> list[CallRecord]:
        where, args = scope(campaign, node)
        with self._lock:
            rows = self._db.execute(CALLS.format(scope=where), args).fetchall()
        return [call_from_row(row) for row in rows]

    def totals(self, campaign: str | None = None, node: str | None = None) -> Totals:
        where, args = scope(campaign, node)
        with self._lock:
            return Totals(*self._db.execute(TOTALS.format(scope=where), args).fetchone())

    def close(self) -> None:
        with self._lock:
            self._db.close()
