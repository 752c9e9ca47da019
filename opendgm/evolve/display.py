"""What a campaign looks like at a glance: the live view while it runs, and `opendgm status` from elsewhere."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from opendgm.archive import (
    ARCHIVE_DB,
    Archive,
    ArchiveError,
    Plan,
    best_agent,
    cache_line,
    clock,
    cost_report,
    credit,
    improvement_line,
    inert,
    overview,
    resolved_line,
    why_none,
)
from opendgm.cluster import progress as cluster_progress
from opendgm.evaluators import IN_FLIGHT, infra_retries
from opendgm.evolve.config import CampaignConfig
from opendgm.outcomes import INFRA_EVENT, INFRA_EXHAUSTED

if TYPE_CHECKING:
    from opendgm.evolve.opening import Setup

SHOWN = 8  # tasks in flight named in the live view


def status_table(archive: Archive, config: CampaignConfig | None = None, running: int | None = None) -> Table:
    """Generation, archive size by status, best score, spend against budget, and the latest events."""
    rows = archive.summaries()
    agents = [row for row in rows if row.kind == "agent"]
    best = best_agent(rows)
    generations = archive.event_count("generation")
    spent = archive.ledger.totals(campaign=archive.campaign)
    table = Table(title=Text(f"campaign {archive.campaign}"), show_header=False, expand=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    of_generations = f" of {config.generations}" if config else ""
    _row(table, "generation", f"{generations}{of_generations}")
    by_status = Counter(row.status for row in agents)
    _row(table, "agents", f"{len(agents)} (" + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) + ")")
    _row(table, "best", best.describe() if best else why_none())
    _row(table, "meta-prompts", _meta_prompts(archive))
    if running is not None:
        _row(table, "in flight", f"{running} node pipeline(s)")
    _row(table, "spend", _spend(spent.cost_usd, spent.tokens, spent.calls, config))
    report = cost_report(archive, top=0)
    _row(table, "prompt cache", cache_line(report["total"]))
    _row(table, "per resolved task", resolved_line(report))
    _row(table, "per improvement", improvement_line(report))
    if nodes := cluster_progress.per_node(archive):
        _row(table, "cluster nodes", nodes)
    if failures := archive.event_count(INFRA_EVENT):
        exhausted = infra_retries.exhausted_count(archive)
        _row(table, "infrastructure", f"{failures} task run(s) failed, not judged; {exhausted} {INFRA_EXHAUSTED}"
             + (" (opendgm run --retry-infra runs them again)" if exhausted else ""))  # fmt: skip
    stale = archive.stale_scores()
    if stale:
        _row(table, "stale scores", f"{len(stale)} stage score(s) from before an accepted config change (kept)")
    stops = archive.latest_events(1, kind="campaign_stopped")
    if stops:
        _row(table, "last stop", str(stops[-1].data.get("reason", "")))
    recent = archive.latest_events(5, skip={"result", cluster_progress.UNIT_EVENT})
    _row(table, "recent", "\n".join(f"{e.kind} {e.node_id or ''} {_brief(e.data)}" for e in recent))
    return table


def _row(table: Table, what: str, value: str) -> None:
    """One line of the view; the value is shown as text, never read as markup, and its control characters are
    spelt out (it holds agents' words)."""
    table.add_row(what, Text("\n".join(inert(line) for line in value.split("\n"))))


def _meta_prompts(archive: Archive) -> str:
    """How many meta-prompts each role has, and the fittest one (mean gain of its children)."""
    nodes = [node for node in archive.nodes(kind="meta_prompt") if node.status != "rejected"]
    if not nodes:
        return "-"
    roles = Counter(str(node.meta.get("role", "?")) for node in nodes)
    text = f"{len(nodes)} (" + ", ".join(f"{n} {role}" for role, n in sorted(roles.items())) + ")"
    records = credit.fitness(archive)
    judged = [(records[n.id].mean_gain, n.id) for n in nodes if n.id in records and records[n.id].mean_gain is not None]
    if judged:
        gain, node = max(judged)
        text += f"; fittest {node} {gain:+.3f}"
    return text


def _spend(usd: float, tokens: int, calls: int, config: CampaignConfig | None) -> str:
    text = f"${usd:.4f}, {tokens} tokens, {calls} calls"
    if config is not None:
        limits = config.llm.budget
        caps = [f"${limits.usd:g}"] if limits.usd is not None else []
        caps += [f"{limits.tokens} tokens"] if limits.tokens is not None else []
        if caps:
            text += " of " + ", ".join(caps)
    return text


def _brief(data: dict) -> str:
    """An event's fields on one line: what an agent wrote in them (a reason) cannot start another."""
    text = ", ".join(f"{key}={value}" for key, value in data.items() if key not in {"config"})
    return inert(text[:100])


def status_document(archive: Archive, config: CampaignConfig | None = None) -> dict[str, Any]:
    """`opendgm status --json`: the archive's overview plus the config's limits, when the config is known."""
    document = overview(archive)
    document[INFRA_EXHAUSTED] = infra_retries.exhausted_count(archive) if archive.event_count(INFRA_EVENT) else 0
    if config is not None:
        document["limits"] = {
            "generations": config.generations,
            "usd": config.llm.budget.usd,
            "tokens": config.llm.budget.tokens,
            **config.budget.model_dump(),
        }
    return document


def show_status(
    archive: Archive, config: CampaignConfig | None, *, as_json: bool, watch: bool, interval: float
) -> None:
    """Print the status once, or every `interval` seconds until Ctrl-C; JSON is one document per line,
    written as plain text (never read as markup)."""
    out = Console()

    def emit() -> None:
        if as_json:
            out.file.write(json.dumps(status_document(archive, config)) + "\n")
            out.file.flush()
        else:
            out.print(status_table(archive, config))

    if not watch:
        emit()
        return
    try:
        while as_json or not out.is_terminal:  # piped or logged: one rendering after another
            emit()
            time.sleep(interval)
        with Live(status_table(archive, config), console=out, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(status_table(archive, config), refresh=True)
    except KeyboardInterrupt:
        return


def task_evaluations(archive: Archive) -> int:
    """Per-task results recorded, as the `task_evaluations` limit counts them."""
    return sum(row.passes + row.fails for row in archive.summaries(kind="agent"))


def campaign_plan(setup: Setup) -> Plan:
    """The most tasks the config lets the campaign run (every node through every stage, within the limits)."""
    config = setup.config
    per_node = len({task.id for tasks in setup.stage_tasks for task in tasks})
    nodes = None if config.mode == "async" else 1 + config.generations * config.children_per_generation
    if config.budget.nodes is not None:
        nodes = min(nodes or config.budget.nodes + 1, config.budget.nodes + 1)
    total = None if nodes is None else nodes * per_node
    if config.budget.task_evaluations is not None:
        total = min(total or config.budget.task_evaluations, config.budget.task_evaluations)
    return Plan(total, task_evaluations, config.llm.budget.usd, config.llm.budget.tokens, config.budget.wall_time_s)


class LiveView:
    """The terminal view of a running campaign: rich redraws it on its own timer, so the elapsed time and the
    tasks in flight move even when nothing lands for minutes; the status table is re-read from the archive
    (read-only, once it exists) when something changed (`changed()`) or every `every_s` seconds, and never
    more often than four times as long as the last reading took (a large archive's table takes a while)."""

    def __init__(self, root: Path, config: CampaignConfig, running: Callable[[], int], every_s: float = 5.0) -> None:
        self.root, self.config, self.running, self.every_s = root, config, running, every_s
        self.started = time.monotonic()
        self._archive: Archive | None = None
        self._table: RenderableType = Text("opening the campaign...")
        self._read_at = float("-inf")
        self._reading_s = 0.0
        self._changed = True
        self._lock = threading.Lock()

    def changed(self) -> None:
        """Something happened: read the table again soon."""
        self._changed = True

    def _due(self) -> bool:
        since = time.monotonic() - self._read_at
        return since >= max(4 * self._reading_s, 1.0 if self._changed else self.every_s)

    def close(self) -> None:
        with self._lock:
            if self._archive is not None:
                self._archive.close()
                self._archive = None

    def __rich__(self) -> RenderableType:
        with self._lock:
            if self._due():
                self._read_at, self._changed = time.monotonic(), False
                try:
                    if self._archive is None and (self.root / ARCHIVE_DB).exists():
                        self._archive = Archive.open(self.root, readonly=True, check_code=False)
                    if self._archive is not None:
                        self._table = status_table(self._archive, self.config, self.running())
                except ArchiveError as error:  # being created, or busy: the next redraw tries again
                    self._table = Text(f"reading the archive: {error}")
                self._reading_s = time.monotonic() - self._read_at
            return Group(self._header(), self._table)

    def _header(self) -> Text:
        running = IN_FLIGHT.now()
        header = Text(f"elapsed {clock(time.monotonic() - self.started)}; {len(running)} tasks in flight", "bold")
        for node, task, age in running[:SHOWN]:
            header.append(f"\n  {node} {inert(task)} ({clock(age)})", "not bold")
        if len(running) > SHOWN:
            header.append(f"\n  and {len(running) - SHOWN} more", "not bold")
        return header
