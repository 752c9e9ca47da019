"""Which tasks this process is running right now: the live view and the heartbeat line show them.

`evaluate_tasks` registers each task while its agent runs and is graded; readers take a snapshot. Nothing is
stored: tasks in flight are a fact about this process, not about the archive.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
            with self.many(node, [task.id]):
                return run(task)

        return tracked

    @contextmanager
    def many(self, node: str, tasks: list[str]) -> Iterator[Callable[[str], None]]:
        """Register `tasks` of `node` as running until each is reported finished (or the block ends): the tasks
        a cluster runs on its nodes while this process waits for them."""
        tickets = {task: next(self._tickets) for task in tasks}
        now = time.monotonic()
        with self._lock:
            self._running.update({ticket: Running(node, task, now) for task, ticket in tickets.items()})

        def finished(task: str) -> None:
            with self._lock:
                self._running.pop(tickets.pop(task), None)

        try:
            yield finished
        finally:
            for task in list(tickets):
                finished(task)

    def now(self) -> list[tuple[str, str, float]]:
        """(node, task, seconds running) of each task running now, longest-running first."""
        with self._lock:
            running = sorted(self._running.values(), key=lambda item: item.started)
        at = time.monotonic()
        return [(item.node, item.task, at - item.started) for item in running]


IN_FLIGHT = InFlight()
