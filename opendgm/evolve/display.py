"""What a campaign looks like at a glance: the live view while it runs, and `opendgm status` from elsewhere."""

from __future__ import annotations

from collections import Counter

from rich.table import Table
from rich.text import Text

from opendgm.archive import Archive, credit
from opendgm.evolve.config import CampaignConfig


def status_table(archive: Archive, config: CampaignConfig | None = None, running: int | None = None) -> Table:
    """Generation, archive size by status, best score, spend against budget, and the latest events."""
    rows = archive.summaries()
    agents = [row for row in rows if row.kind == "agent"]
    scored = [row for row in agents if row.score is not None and row.status == "evaluated"]
    best = max(scored, key=lambda row: row.score or 0.0, default=None)
    generations = archive.event_count("generation")
    spent = archive.ledger.totals(campaign=archive.campaign)
    table = Table(title=Text(f"campaign {archive.campaign}"), show_header=False, expand=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    of_generations = f" of {config.generations}" if config else ""
    _row(table, "generation", f"{generations}{of_generations}")
    by_status = Counter(row.status for row in agents)
    _row(table, "agents", f"{len(agents)} (" + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) + ")")
    leader = f"{best.id} {best.score:.3f} on stage {best.stage}" if best and best.score is not None else "-"
    _row(table, "best", leader)
    _row(table, "meta-prompts", _meta_prompts(archive))
    if running is not None:
        _row(table, "in flight", f"{running} node pipeline(s)")
    _row(table, "spend", _spend(spent.cost_usd, spent.tokens, spent.calls, config))
    stops = archive.latest_events(1, kind="campaign_stopped")
    if stops:
        _row(table, "last stop", str(stops[-1].data.get("reason", "")))
    recent = archive.latest_events(5, skip={"result"})
    _row(table, "recent", "\n".join(f"{e.kind} {e.node_id or ''} {_brief(e.data)}" for e in recent))
    return table


def _row(table: Table, what: str, value: str) -> None:
    """One line of the view; the value is shown as text, never read as markup (it holds agents' words)."""
    table.add_row(what, Text(value))


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
    text = ", ".join(f"{key}={value}" for key, value in data.items() if key not in {"config"})
    return text[:100]
