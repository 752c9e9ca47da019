"""Row helpers shared by the archive's modules: Python values to SQLite rows and rows back to records."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from opendgm.archive.errors import ArchiveError
from opendgm.archive.models import Event, Node, TaskResult


def to_json(value: Any) -> str:
    """JSON text for a meta/data column, keys sorted so equal values store equal text; else an ArchiveError."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ArchiveError(f"not JSON-serialisable: {error}") from None


def blob_hash(content: str) -> str:
    """Git's hash of `content` as a blob: the code hash of a text node (same scheme as agent trees)."""
    raw = content.encode()
    return hashlib.sha1(b"blob %d\x00" % len(raw) + raw, usedforsecurity=False).hexdigest()


def insert_row(conn: sqlite3.Connection, table: str, row: Mapping[str, Any], suffix: str = "") -> sqlite3.Cursor:
    """INSERT one row given as {column: value}, so each column is named once (`suffix`: e.g. ON CONFLICT)."""
    marks = ", ".join(f":{column}" for column in row)
    return conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks}){suffix}", row)


def to_node(row: sqlite3.Row) -> Node:
    """A `Node` from a nodes row: meta decoded from its JSON, the commit_sha column as `commit`."""
    fields = dict(row)
    fields["commit"] = fields.pop("commit_sha")
    fields["meta"] = json.loads(fields["meta"])
    return Node(**fields)


def to_result(row: sqlite3.Row) -> TaskResult:
    """A `TaskResult` from a results row: SQLite stores `resolved` as 0/1, the record holds a bool."""
    return TaskResult(**(dict(row) | {"resolved": bool(row["resolved"])}))


def to_event(row: Sequence[Any]) -> Event:
    """An `Event` from an (id, ts, kind, node_id, data) row: data decoded from its JSON."""
    return Event(row[0], row[1], row[2], row[3], json.loads(row[4]))
