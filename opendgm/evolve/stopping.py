"""When a campaign stops, and with which exit code: its limits (wall time, children, task evaluations, spend),
a persistent infrastructure failure, and Ctrl-C, SIGTERM or SIGHUP (batch schedulers and `docker stop` send
SIGTERM, a closed terminal SIGHUP: each is a request to stop like Ctrl-C).

Every check runs between durable steps, so a stop never loses work: running the campaign again resumes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from opendgm.archive import Archive
from opendgm.evolve.config import CampaignConfig, OperatorWeights
from opendgm.usage import EXIT_INFRA, EXIT_LIMIT, StopNow

log = logging.getLogger(__name__)

OPERATORS = tuple(OperatorWeights.model_fields)  # what makes a node other than the seeds


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(Exception):
    """The campaign stops cleanly; the message says which limit (or request) stopped it, `exit_code` how the
    command exits (128 + the signal's number for a stop on request)."""

    def __init__(self, reason: str, exit_code: int = EXIT_LIMIT) -> None:
        super().__init__(reason)
        self.exit_code = exit_code


class InfraStopped(Stopped):
    """The model service, the budget's keeper, the engine or the host kept failing: nothing was judged for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, EXIT_INFRA)


class StopRequest(threading.Event):
    """Set by the first stop signal; `signum` says which one came."""

    signum: int = signal.SIGINT


def check_limits(config: CampaignConfig, archive: Archive, started: float, stop_requested: threading.Event) -> None:
    """Raise Stopped when a stop signal came or a limit of `config` is reached (`started`: time.monotonic())."""
    budget = config.budget
    if stop_requested.is_set():
        signum = getattr(stop_requested, "signum", signal.SIGINT)
        name = signal.Signals(signum).name
        raise Stopped(f"stopped on request ({name}); run again to resume", 128 + signum)
    if budget.wall_time_s is not None and time.monotonic() - started >= budget.wall_time_s:
        raise Stopped(f"wall time: {budget.wall_time_s:g} s reached")
    children = [n for n in archive.nodes() if n.operator in OPERATORS] if budget.nodes is not None else []
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
def graceful_stop(stop: threading.Event, on_stop_now: Callable[[], None] = lambda: None) -> Iterator[None]:
    """First SIGINT, SIGTERM or SIGHUP: finish the work in flight, start nothing new. Second: `on_stop_now` (which
    abandons the work in flight, e.g. removes our containers so their commands end) and stop now."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            for each in STOP_SIGNALS:
                signal.signal(each, signal.SIG_DFL if each != signal.SIGINT else signal.default_int_handler)
            on_stop_now()
            raise StopNow(signum)
        if isinstance(stop, StopRequest):
            stop.signum = signum
        stop.set()
        log.warning(
            "%s: stopping after the work in flight; send it again to stop now (resume is safe)",
            signal.Signals(signum).name,
        )

    previous = {each: signal.signal(each, handle) for each in STOP_SIGNALS}
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
