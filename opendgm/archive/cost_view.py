"""`opendgm cost DIR`: what a campaign spent, on what, and per improvement; read-only, safe on a live campaign.

The one-line summaries are shared with `opendgm status`, whose table shows them under the spend line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from opendgm.archive.archive import Archive
from opendgm.archive.best import BEST_RULES, DEFAULT_RULE, why_none
from opendgm.archive.costs import cost_report


def cost(
    campaign_dir: Path = typer.Argument(..., help="A campaign directory (running or not)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON document (every node)."),
    rule: str = typer.Option(DEFAULT_RULE, help=f"Best-agent rule: {', '.join(BEST_RULES)}."),
    top: int = typer.Option(10, min=0, help="Costliest nodes to list."),
) -> None:
    """Spend by role, purpose, node and operator; prompt-cache hit rate; tokens per resolved task; and the cost
    of each improvement (the campaign's spend until each new best agent, beside the spend of its own path)."""
    if rule not in BEST_RULES:
        raise typer.BadParameter(f"use one of {', '.join(BEST_RULES)}", param_hint="--rule")
    with Archive.open(campaign_dir, readonly=True) as archive:
        report = cost_report(archive, rule, None if as_json else top)  # type: ignore[arg-type]
    out = Console()
    if as_json:
        out.file.write(json.dumps(report) + "\n")
        return
    out.print(render(report))


def render(report: dict[str, Any]) -> Group:
    total = report["total"]
    head = Text(f"campaign {report['campaign']}: {usd(total['cost_usd'])}, {total['tokens']:,} tokens, ")
    head.append(f"{total['calls']:,} calls ({total['errors']:,} not answered)")
    parts: list[Any] = [
        head,
        Text(f"prompt cache: {cache_line(total)}"),
        Text(f"per resolved task: {resolved_line(report)}"),
    ]
    for title, key in (("by purpose", "by_purpose"), ("by role", "by_role"), ("by operator", "by_operator")):
        parts.append(_spend_table(title, report[key]))
    if report["by_node"]:
        nodes = {f"{node} ({line['operator'] or '?'})": line for node, line in report["by_node"].items()}
        parts.append(_spend_table(f"costliest nodes ({len(nodes)} of {report['nodes_charged']})", nodes))
    parts += [Text(f"cost per improvement ({report['rule']} rule): {improvement_line(report)}"), _steps(report)]
    return Group(*parts)


def usd(value: float) -> str:
    return f"${value:,.4f}"


def cache_line(spend: dict[str, Any]) -> str:
    """Hit rate and cached tokens of one spend line."""
    if not spend["prompt_tokens"]:
        return "no prompt tokens yet"
    return (
        f"{spend['cache_hit_rate']:.1%} of {spend['prompt_tokens']:,} prompt tokens read from a cache,"
        f" {spend['cache_write_tokens']:,} written to one"
    )


def resolved_line(report: dict[str, Any]) -> str:
    task = report["per_resolved_task"]
    if not task["resolved"]:
        return f"none resolved yet ({task['graded']:,} graded)"
    return (
        f"{task['tokens_per_resolved']:,.0f} tokens, {usd(task['usd_per_resolved'])} of agent work"
        f" ({task['resolved']:,} of {task['graded']:,} graded tasks resolved)"
    )


def improvement_line(report: dict[str, Any]) -> str:
    summary, steps = report["cost_per_improvement"], report["improvements"]
    if not steps:
        return why_none(report["rule"])
    latest = steps[-1]
    reached = (
        f"best {latest['node']} reached after {usd(latest['campaign_usd'])} ({latest['campaign_tokens']:,} tokens)"
    )
    reached += f", its own path {usd(latest['path_usd'])}"
    if summary is None:
        return f"no improvement over the first best agent yet; {reached}"
    per_point = "" if summary["usd_per_point"] is None else f", {usd(summary['usd_per_point'])} per point"
    return (
        f"{summary['improvements']} over {summary['baseline']} (+{summary['points_gained']:.1f} points):"
        f" {usd(summary['usd_per_improvement'])} each{per_point}; {reached}"
    )


def _spend_table(title: str, lines: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=Text(title), title_justify="left")
    for column in ("", "calls", "tokens", "cache hit", "USD"):
        table.add_column(column, justify="left" if not column else "right")
    for name, line in lines.items():
        hit = "-" if line["cache_hit_rate"] is None else f"{line['cache_hit_rate']:.0%}"
        table.add_row(Text(name), f"{line['calls']:,}", f"{line['tokens']:,}", hit, usd(line["cost_usd"]))
    return table


def _steps(report: dict[str, Any]) -> Table:
    table = Table(title=Text("new best agents, in the order they appeared"), title_justify="left")
    for column in ("agent", "figure", "gain", "campaign spend until then", "since the previous", "its path's spend"):
        table.add_column(column)
    for step in report["improvements"]:
        gain = "baseline" if step["gain"] is None else f"{step['gain'] * 100:+.1f} pts"
        table.add_row(
            Text(step["node"]),
            f"{step['value']:.3f}",
            gain,
            f"{usd(step['campaign_usd'])} ({step['campaign_tokens']:,} tok)",
            f"{usd(step['since_previous_usd'])} ({step['since_previous_tokens']:,} tok)",
            Text(f"{usd(step['path_usd'])} ({len(step['path'])} node{'s' if len(step['path']) != 1 else ''})"),
        )
    return table
