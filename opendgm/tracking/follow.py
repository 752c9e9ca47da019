"""The campaign's observer seam: read the archive's event log, report each finished node to the tracker.

A node is reported when its status becomes evaluated (again after each stage), rejected or failed; the step
is that event's id, which only grows, so a resumed campaign continues the same curves. Each step carries the
node's figures (`node/...`) and the campaign's at that moment (`campaign/...`, `spend/<role>/...`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from opendgm.archive import Archive, overview
from opendgm.tracking.config import TrackingConfig
from opendgm.tracking.trackers import Tracker, open_tracker, remember, remembered

log = logging.getLogger(__name__)
REPORTED = frozenset({"evaluated", "rejected", "failed"})
STATUS_CODE = {"evaluated": 1.0, "rejected": 0.0, "failed": -1.0}
PAGE = 5000


class Tracked(Protocol):
    """What `follow` needs of a campaign config."""

    tracking: TrackingConfig | None

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


class Follower:
    """Reports the nodes that finished since the last poll; `poll` is called from one thread at a time."""

    def __init__(self, tracker: Tracker, archive: Archive, kind: str) -> None:
        self.tracker, self.archive, self.kind = tracker, archive, kind
        self.last = int(remembered(archive.root, f"{kind}_reported") or 0)  # a resumed campaign goes on from there
        self._lock = threading.Lock()

    def poll(self) -> int:
        """Report what happened since the last poll; returns how many node reports were sent."""
        with self._lock:
            sent = 0
            while True:
                events = self.archive.events(since_id=self.last, limit=PAGE)
                if not events:
                    return sent
                finished = {e.node_id: e.id for e in events if e.kind == "status" and e.data.get("to") in REPORTED}
                if finished:
                    sent += self._report(finished)
                self.last = events[-1].id
                remember(self.archive.root, f"{self.kind}_reported", self.last)

    def _report(self, finished: Mapping[str | None, int]) -> int:
        with self.archive.snapshot():
            rows = {row.id: row for row in self.archive.summaries(kind="agent")}
            costs = self.archive.ledger.totals_by("node", campaign=self.archive.campaign)
            campaign = _campaign_metrics(overview(self.archive))
        sent = 0
        for node, step in sorted(finished.items(), key=lambda item: item[1]):
            row = rows.get(str(node))
            if row is None:  # a prompt, meta-prompt or rubric
                continue
            spent = costs.get(row.id)
            figures = {
                "node/seq": float(row.id.lstrip("n")),
                "node/status": STATUS_CODE.get(row.status, 0.0),
                "node/passes": row.passes,
                "node/fails": row.fails,
                "node/posterior_mean": (1 + row.passes) / (2 + row.passes + row.fails),
                "node/cost_usd": spent.cost_usd if spent else 0.0,
                "node/tokens": spent.tokens if spent else 0,
            }
            if row.score is not None:
                figures["node/score"] = row.score
            self.tracker.log_metrics(figures | campaign, step)
            sent += 1
        return sent


def _campaign_metrics(view: Mapping[str, Any]) -> dict[str, float]:
    by_status = view["agents_by_status"]
    metrics = {
        "campaign/agents": float(sum(by_status.values())),
        "campaign/evaluated": float(by_status.get("evaluated", 0)),
        "campaign/rejected": float(by_status.get("rejected", 0)),
        "campaign/failed": float(by_status.get("failed", 0)),
        "campaign/generations": float(view["generations"]),
        "campaign/task_evaluations": float(view["task_evaluations"]),
        "campaign/spend_usd": view["spend"]["cost_usd"],
        "campaign/tokens": float(view["spend"]["tokens"]),
        "campaign/calls": float(view["spend"]["calls"]),
    }
    if view["best"] is not None:
        metrics["campaign/best_value"] = view["best"]["value"]
        metrics["campaign/best_seq"] = float(view["best"]["id"].lstrip("n"))
    for role, spent in view["spend_by_role"].items():
        metrics[f"spend/{role}/usd"] = spent["cost_usd"]
        metrics[f"spend/{role}/tokens"] = float(spent["tokens"])
    return metrics


@contextlib.contextmanager
def follow(config: Tracked, archive: Archive) -> Iterator[Follower | None]:
    """Track the campaign while the block runs (nothing without a `tracking:` block): the config once, then
    every finished node, from a background thread every `interval_s` and once more at the end."""
    settings = config.tracking
    if settings is None:
        yield None
        return
    tracker = open_tracker(settings, archive.campaign, archive.root)
    tracker.log_config(config.model_dump(mode="json"))
    follower = Follower(tracker, archive, settings.kind)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(settings.interval_s):
            _quietly(follower.poll)

    thread = threading.Thread(target=loop, name="opendgm-tracking", daemon=True)
    thread.start()
    ok = False
    try:
        yield follower
        ok = True
    finally:
        stop.set()
        thread.join()
        _quietly(follower.poll)
        _quietly(lambda: tracker.finish(ok))


def _quietly(action: Any) -> None:
    """A tracker that fails (server down, disk full) is logged; it never stops the campaign."""
    try:
        action()
    except Exception as error:
        log.warning("experiment tracking failed, the campaign goes on: %s", error)
