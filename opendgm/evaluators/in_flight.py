"""Which tasks this process is running right now: the live view and the heartbeat line show them.

`evaluate_tasks` registers each task while its agent runs and is graded; readers take a snapshot. Nothing is
stored: tasks in flight are a fact about this process, not about the archive.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from opendgm.evaluators.task import Task

T = TypeVar("T")


@dataclass(frozen=True)
class Running:
    """One task of one node, running since `started` (time.monotonic())."""

    node: str
    task: str
    started: float


class InFlight:
    """A thread-safe register of running tasks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, Running] = {}
        self._tickets = itertools.count()

    def tracking(self, node: str, run: Callable[[Task], T]) -> Callable[[Task], T]:
        """`run`, registered as in flight for as long as each call lasts."""

        def tracked(task: Task) -> T:
            ticket = next(self._tickets)
            with self._lock:
                self._running[ticket] = Running(node, task.id, time.monotonic())
            try:
                return run(task)
            finally:
                with self._lock:
                    del self._running[ticket]

        return tracked

    def now(self) -> list[tuple[str, str, float]]:
        """(node, task, seconds running) of each task running now, longest-running first."""
        with self._lock:
            running = sorted(self._running.values(), key=lambda item: item.started)
        at = time.monotonic()
        return [(item.node, item.task, at - item.started) for item in running]


IN_FLIGHT = InFlight()
