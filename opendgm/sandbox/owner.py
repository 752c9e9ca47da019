"""Who owns a sandbox: the labels written on every container and volume opendgm creates.

Invariant 6 (only our own containers and files, docs/invariants.md).

The reaper relies on these labels alone, so they must identify the owning process even after its pid
has been reused (hence the process start time).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

LABEL_PREFIX = "org.opendgm"
LABEL_OWNED = f"{LABEL_PREFIX}.owned"
LABEL_CAMPAIGN = f"{LABEL_PREFIX}.campaign"
LABEL_HOST = f"{LABEL_PREFIX}.host"
LABEL_PID = f"{LABEL_PREFIX}.pid"
LABEL_PID_START = f"{LABEL_PREFIX}.pid-start"
LABEL_DEADLINE = f"{LABEL_PREFIX}.deadline"


def process_start_ticks(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None when no such process exists."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    # Field 22 follows the parenthesised command name, which may itself contain spaces.
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class Owner:
    """The owning process of a sandbox and the time after which the sandbox may be removed regardless."""

    campaign: str
    host: str
    pid: int
    pid_start: str
    deadline: float

    @classmethod
    def current(cls, campaign: str, lifetime_s: float) -> Owner:
        pid = os.getpid()
        return cls(campaign, socket.gethostname(), pid, process_start_ticks(pid) or "?", time.time() + lifetime_s)

    def labels(self) -> dict[str, str]:
        return {
            LABEL_OWNED: "1",
            LABEL_CAMPAIGN: self.campaign,
            LABEL_HOST: self.host,
            LABEL_PID: str(self.pid),
            LABEL_PID_START: self.pid_start,
            LABEL_DEADLINE: f"{self.deadline:.0f}",
        }


def abandoned(labels: dict[str, str], now: float | None = None) -> str | None:
    """Why a labelled sandbox is abandoned ("owner gone", "deadline passed"), or None if still owned."""
    if labels.get(LABEL_OWNED) != "1":
        return None
    now = time.time() if now is None else now
    try:
        if float(labels.get(LABEL_DEADLINE, "inf")) < now:
            return "deadline passed"
    except ValueError:
        return "unreadable deadline"
    if labels.get(LABEL_HOST) != socket.gethostname():
        return None  # another machine's process: only its deadline can tell
    try:
        pid = int(labels.get(LABEL_PID, ""))
    except ValueError:
        return "unreadable owner pid"
    start = process_start_ticks(pid)
    if start is None or start != labels.get(LABEL_PID_START):
        return "owner gone"
    return None
