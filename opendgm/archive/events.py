"""The event log: the part of `Archive` that appends and reads events (`EventsMixin`).

Events are rows in one append-only table whose ids only grow, so a dashboard polls with the last id it saw.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from opendgm.archive.db import Database
from opendgm.archive.models import Event
from opendgm.archive.rows import to_event, to_json


class EventsMixin:
    """`Archive`'s event log; it relies on these members of `Archive`."""

    _db: Database
    _write: Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]]

    def _event(self, conn: sqlite3.Connection, kind: str, node_id: str | None, data: Mapping[str, Any]) -> int:
        return conn.execute(
            "INSERT INTO events (ts, kind, node_id, data) VALUES (?, ?, ?, ?)",
            (time.time(), kind, node_id, to_json(dict(data))),
        ).lastrowid  # type: ignore[return-value]

    def log_event(self, kind: str, node_id: str | None = None, data: Mapping[str, Any] | None = None) -> int:
        """Append an event (committed before returning); returns its id, which only grows."""
        with self._write() as conn:
            return self._event(conn, kind, node_id, data or {})

    def events(self, since_id: int = 0, node_id: str | None = None, limit: int | None = None) -> list[Event]:
        """Events with id > since_id, oldest first: a dashboard polls with the last id it saw."""
        where = "id > ?"
        args: list[int | str] = [since_id]
        if node_id is not None:
            where, args = where + " AND node_id = ?", [*args, node_id]
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT id, ts, kind, node_id, data FROM events WHERE {where} ORDER BY id LIMIT ?",
                [*args, -1 if limit is None else limit],
            ).fetchall()
        return [to_event(row) for row in rows]

    def event_count(self, kind: str) -> int:
        """How many events of one kind there are (generations run, say), without reading them."""
        with self._db.read() as conn:
            return conn.execute("SELECT COUNT(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0]

    def latest_events(self, n: int, *, kind: str | None = None, skip: Collection[str] = ()) -> list[Event]:
        """The newest `n` events, oldest first, of one kind or leaving out noisy kinds: a status view
        reads these instead of the whole log, which grows with a long campaign."""
        where, args = "1", []
        if kind is not None:
            where, args = "kind = ?", [kind]
        if skip:
            where += f" AND kind NOT IN ({', '.join('?' * len(skip))})"
            args += list(skip)
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT id, ts, kind, node_id, data FROM events WHERE {where} ORDER BY id DESC LIMIT ?", [*args, n]
            ).fetchall()
        return [to_event(row) for row in reversed(rows)]

    def last_event_id(self) -> int:
        """The newest event's id (0 when there is none): where a poller starts."""
        with self._db.read() as conn:
            return conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]

    def stale_scores(self) -> set[tuple[str, str, str]]:
        """(evaluator, version, stage) of the scores made before an accepted change of evaluator or stages
        (`config_change_accepted` events): kept, but no longer what the campaign scores by."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT data FROM events WHERE kind = 'config_change_accepted'").fetchall()
        return {(ev, version, stage) for (data,) in rows for ev, version, stage in json.loads(data).get("stale", [])}
