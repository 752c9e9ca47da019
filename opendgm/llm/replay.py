"""Record / replay of model exchanges, keyed by a canonical hash of the request.

Replay makes a campaign re-runnable without a provider (tests, demos, bisecting the framework itself):
a recorded exchange is served byte-for-byte, and in `replay` mode a request that was never recorded is
a loud error rather than a silent live call.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opendgm.llm.errors import ReplayMiss
from opendgm.llm.roles import ReplayMode


def request_key(request: dict[str, Any]) -> str:
    """sha256 of the request (model, messages, sampling params) as sorted, compact JSON."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Recorded:
    response: dict[str, Any]
    cost_usd: float


class ReplayStore:
    """A SQLite file of exchanges; `mode` decides whether it is read, written, or both."""

    def __init__(self, path: Path, mode: ReplayMode) -> None:
        self.path = Path(path)
        self.mode = ReplayMode(mode)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS exchanges (key TEXT PRIMARY KEY, request TEXT, response TEXT, cost_usd REAL)"
        )
        self._lock = threading.Lock()

    def lookup(self, key: str) -> Recorded | None:
        """The recorded exchange, None if the call must go out, or `ReplayMiss` in replay mode."""
        if self.mode not in (ReplayMode.REPLAY, ReplayMode.AUTO):
            return None
        with self._lock:
            row = self._db.execute("SELECT response, cost_usd FROM exchanges WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return Recorded(json.loads(row[0]), row[1])
        if self.mode is ReplayMode.REPLAY:
            raise ReplayMiss(f"no recorded exchange for request {key} in {self.path}")
        return None

    def save(self, key: str, request: dict[str, Any], response: dict[str, Any], cost_usd: float) -> None:
        if self.mode not in (ReplayMode.RECORD, ReplayMode.AUTO):
            return
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO exchanges VALUES (?, ?, ?, ?)",
                (key, json.dumps(request, sort_keys=True), json.dumps(response), cost_usd),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
