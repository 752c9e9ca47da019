"""One SQLite connection shared by threads, with re-entrant transactions and after-commit actions.

Writes are serialised by one lock: the campaign calls the archive from worker threads, and SQLite has
one writer anyway. Nested `write()` blocks join the outermost transaction; its COMMIT is the moment
the state is durable (synchronous=FULL), and only then do after-commit actions (git ref updates) run.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from urllib.parse import quote

BUSY_TIMEOUT_MS = 30_000


class Database:
    def __init__(self, path: Path, *, mode: str) -> None:
        """`mode` is SQLite's URI mode: `ro` for readers, `rw` for the writer, `rwc` to create."""
        self.path = path
        self.readonly = mode == "ro"
        self.conn = sqlite3.connect(
            f"file:{quote(str(path))}?mode={mode}",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        self.conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        self._writing = False
        self._after_commit: list[Callable[[], None]] = []
        self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not self.readonly:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self.conn.execute(begin)
                self._writing = False
            self._writing = self._writing or begin != "BEGIN"  # sticks until the outermost one ends
            self._depth += 1
            try:
                yield self.conn
                if outermost:
                    self.conn.execute("COMMIT")
            except BaseException:
                if outermost:
                    self._after_commit.clear()
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                raise
            finally:
                self._depth -= 1
            if outermost:
                actions, self._after_commit = self._after_commit, []
                for action in actions:
                    action()

    @property
    def writing(self) -> bool:
        """Whether the current transaction is a write (its changes may still roll back); call it inside one."""
        return self._writing

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction (joins the enclosing one); all or nothing, durable when it returns."""
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: every query inside sees one consistent snapshot."""
        return self._transaction("BEGIN")

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the enclosing transaction has committed (now, if there is none)."""
        with self._lock:
            if self._depth:
                self._after_commit.append(action)
                return
        action()

    def close(self) -> None:
        with self._lock:
            self.conn.close()
