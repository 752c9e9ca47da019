"""When a campaign stops: its limits (wall time, children, task evaluations, spend) and Ctrl-C.

Every check runs between durable steps, so a stop never loses work: running the campaign again resumes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from opendgm.archive import Archive
from opendgm.evolve.config import CampaignConfig, OperatorWeights

log = logging.getLogger(__name__)

OPERATORS = tuple(OperatorWeights.model_fields)  # what makes a node other than the seeds


class Stopped(Exception):
    """The campaign stops cleanly; the message says which limit (or request) stopped it."""


def check_limits(config: CampaignConfig, archive: Archive, started: float, stop_requested: threading.Event) -> None:
    """Raise Stopped when a Ctrl-C came or a limit of `config` is reached (`started`: time.monotonic())."""
    budget = config.budget
    if stop_requested.is_set():
        raise Stopped("stopped on request (SIGINT); run again to resume")
    if budget.wall_time_s is not None and time.monotonic() - started >= budget.wall_time_s:
        raise Stopped(f"wall time: {budget.wall_time_s:g} s reached")
    children = [n for n in archive.nodes() if n.operator in OPERATORS]
    if budget.nodes is not None and len(children) >= budget.nodes:
        raise Stopped(f"nodes: {len(children)} of {budget.nodes} children created")
    evaluations = sum(row.passes + row.fails for row in archive.summaries())
    if budget.task_evaluations is not None and evaluations >= budget.task_evaluations:
        raise Stopped(f"task evaluations: {evaluations} of {budget.task_evaluations} recorded")
    limits, spent = config.llm.budget, archive.ledger.totals(campaign=archive.campaign)
    if limits.usd is not None and spent.cost_usd >= limits.usd:
        raise Stopped(f"budget: ${spent.cost_usd:.4f} of ${limits.usd:g} spent")
    if limits.tokens is not None and spent.tokens >= limits.tokens:
        raise Stopped(f"budget: {spent.tokens} of {limits.tokens} tokens spent")


@contextmanager
def graceful_sigint(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C: finish the work in flight, start nothing new. Second: stop now (state stays durable)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(_signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set()
        log.warning("stopping after the work in flight; press Ctrl-C again to stop now (resume is safe)")

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
