"""Progress as plain lines, for a campaign or an evaluation whose stdout is a file or a pipe (`nohup`, a batch
scheduler): one line per event that matters, read from the archive's event log, and a heartbeat line every
few seconds with the elapsed time, tasks done of planned, the tasks in flight, spend and an ETA.

Lines are plain text written as they are, never read as markup; the control characters an agent may put in
a reason or a task id are escaped, so one event is always exactly one line of the log.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TextIO

from opendgm.archive.archive import ARCHIVE_DB, Archive
from opendgm.archive.models import Event
from opendgm.archive.sentences import sentence

log = logging.getLogger(__name__)

QUIET = frozenset({"meta", "edge", "edge_removed"})  # bookkeeping, not progress
BUDGET_MARKS = (0.5, 0.8, 0.95)  # a line when spend first passes each share of a limit
PAGE = 1000  # events read at a time
DETAIL_CHARS = 300  # of an unresolved task's detail
SHOWN_IN_FLIGHT = 3  # the heartbeat names the longest-running few and counts the rest
_ESCAPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, bidi overrides, separators, unassigned


def inert(text: str) -> str:
    """`text` on one line with its control and invisible formatting characters spelt out (`\\x1b`, `\\u202e`)."""
    return "".join(
        char if char == " " or unicodedata.category(char) not in _ESCAPED else char.encode("unicode_escape").decode()
        for char in text
    )


def clock(seconds: float) -> str:
    """A duration as h:mm:ss."""
    return str(timedelta(seconds=round(max(seconds, 0.0))))


@dataclass(frozen=True)
class Plan:
    """What the heartbeat measures against: tasks planned (None: not known ahead), how to count the tasks done
    in the archive, and the limits that may end the work first."""

    total_tasks: int | None
    done: Callable[[Archive], int]
    usd: float | None = None
    tokens: int | None = None
    wall_time_s: float | None = None
    unit: str = "tasks"  # what `done` counts (a prompt campaign counts prompts)


InFlightNow = Callable[[], Sequence[tuple[str, str, float]]]  # (node, task, seconds running) of each task


class ProgressLines:
    """Turns what happened in the archive since the last call into lines; one thread calls it at a time."""

    def __init__(
        self, archive: Archive, plan: Plan, write: Callable[[str], None], in_flight: InFlightNow, since: int
    ) -> None:
        self.archive, self.plan, self.write, self.in_flight = archive, plan, write, in_flight
        self.started = time.monotonic()
        self.last = since
        self.done_at_start = plan.done(archive)
        self.finished_stages = {
            (node, score.evaluator, score.evaluator_version, score.stage)
            for node, scores in archive.scores_by_node().items()
            for score in scores
            if score.complete
        }
        self.marks_passed: set[tuple[str, float]] = set()

    def _say(self, text: str) -> None:
        self.write(f"[{clock(time.monotonic() - self.started)}] {inert(text)}")

    def events(self) -> int:
        """A line for each new event that matters (and for each stage it completes); returns how many events."""
        told = 0
        while new := self.archive.events(since_id=self.last, limit=PAGE):
            for event in new:
                self.last = event.id
                if event.kind not in QUIET:
                    self._say(sentence(event) + self._why(event))
            for node in dict.fromkeys(str(e.node_id) for e in new if e.kind == "result" and e.node_id):
                self._stages_finished(node)
            self._budget_marks()
            told += len(new)
        return told

    def _why(self, event: Event) -> str:
        """What a task that was not resolved left as its detail (the agent's last words, an error), clipped."""
        if event.kind != "result" or event.data.get("status") == "resolved" or not event.node_id:
            return ""
        data = event.data
        for result in self.archive.results(event.node_id, data.get("evaluator")):
            if (result.task_id, result.attempt) == (data.get("task_id"), data.get("attempt")) and result.detail:
                detail = " ".join(result.detail.split())
                return f" ({detail[:DETAIL_CHARS]}{'…' if len(detail) > DETAIL_CHARS else ''})"
        return ""

    def _stages_finished(self, node: str) -> None:
        for score in self.archive.scores(node):
            key = (node, score.evaluator, score.evaluator_version, score.stage)
            if score.complete and key not in self.finished_stages:
                self.finished_stages.add(key)
                self._say(
                    f"{node} finished stage {score.stage} of {score.evaluator}: "
                    f"{score.n_resolved}/{score.n_tasks} resolved (score {score.score:.2f})"
                )

    def _budget_marks(self) -> None:
        spent = self.archive.ledger.totals(campaign=self.archive.campaign)
        for unit, used, limit in (("usd", spent.cost_usd, self.plan.usd), ("tokens", spent.tokens, self.plan.tokens)):
            if not limit:
                continue
            passed = [mark for mark in BUDGET_MARKS if used >= mark * limit and (unit, mark) not in self.marks_passed]
            if passed:
                self.marks_passed.update((unit, mark) for mark in passed)
                amount = f"${used:.4f} of ${limit:g}" if unit == "usd" else f"{used:,} of {limit:,} tokens"
                self._say(f"budget: {amount} spent ({used / limit:.0%})")

    def heartbeat(self) -> None:
        """One line: elapsed, tasks done of planned, tasks in flight, spend, ETA."""
        elapsed = time.monotonic() - self.started
        done = self.plan.done(self.archive)
        spent = self.archive.ledger.totals(campaign=self.archive.campaign)
        total = "" if self.plan.total_tasks is None else f"/{self.plan.total_tasks}"
        running = self.in_flight()
        flight = f"{len(running)} in flight"
        if running:
            names = ", ".join(f"{node} {task} {clock(age)}" for node, task, age in running[:SHOWN_IN_FLIGHT])
            flight += f" ({names}{', …' if len(running) > SHOWN_IN_FLIGHT else ''})"
        limit = f" of ${self.plan.usd:g}" if self.plan.usd is not None else ""
        self._say(
            f"heartbeat: elapsed {clock(elapsed)}, {self.plan.unit} {done}{total} done, {flight}, "
            f"spend ${spent.cost_usd:.4f}{limit} ({spent.tokens:,} tokens, {spent.calls} calls), "
            f"ETA {self._eta(elapsed, done)}"
        )

    def _eta(self, elapsed: float, done: int) -> str:
        """Remaining planned tasks at this run's pace, or the wall-time limit if that comes first."""
        estimates = []
        pace = (done - self.done_at_start) / elapsed if elapsed > 0 else 0.0
        if self.plan.total_tasks is not None and pace > 0:
            estimates.append(max(self.plan.total_tasks - done, 0) / pace)
        if self.plan.wall_time_s is not None:
            estimates.append(self.plan.wall_time_s - elapsed)
        return clock(min(estimates)) if estimates else "unknown (no task finished yet)"


@contextlib.contextmanager
def printing(
    root: Path,
    plan: Plan,
    out: TextIO,
    *,
    heartbeat_s: float,
    in_flight: InFlightNow = lambda: (),
    poll_s: float = 0.5,
) -> Iterator[None]:
    """Print progress lines of the archive at `root` to `out` while the block runs (from a background thread,
    through a read-only archive of its own, opened once the archive exists), then the last events once it ends.
    Only what happens while the block runs is told: a resumed campaign does not repeat its history."""
    since = _last_event_id(root)
    lock = threading.Lock()

    def write(line: str) -> None:
        with lock:
            out.write(line + "\n")
            out.flush()

    stop = threading.Event()
    state: dict[str, ProgressLines] = {}

    def tick(beat: bool) -> None:
        if "lines" not in state:
            if not (root / ARCHIVE_DB).exists():
                return
            archive = Archive.open(root, readonly=True, check_code=False)
            state["lines"] = ProgressLines(archive, plan, write, in_flight, since)
        state["lines"].events()
        if beat:
            state["lines"].heartbeat()

    def loop() -> None:
        next_beat = time.monotonic() + heartbeat_s
        while not stop.wait(min(poll_s, heartbeat_s)):
            beat = time.monotonic() >= next_beat
            if beat:
                next_beat += heartbeat_s
            _quietly(partial(tick, beat))

    thread = threading.Thread(target=loop, name="opendgm-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        _quietly(partial(tick, False))
        if "lines" in state:
            state["lines"].archive.close()


def _last_event_id(root: Path) -> int:
    if not (root / ARCHIVE_DB).exists():
        return 0
    with Archive.open(root, readonly=True, check_code=False) as archive:
        return archive.last_event_id()


def _quietly(action: Callable[[], None]) -> None:
    """Progress lines that cannot be printed (a closed pipe, an archive being created) never stop the work."""
    try:
        action()
    except Exception as error:
        log.debug("progress line skipped: %s", error)
