"""`opendgm simulate CONFIG`: compare search policies on a simulated landscape before spending on models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from opendgm.evolve.config import CampaignConfig
from opendgm.evolve.simulate import POLICIES, Progress, compare

console = Console()


def simulate(
    config_path: Path = typer.Argument(..., help="Campaign config (YAML); its `simulation:` block sets the landscape."),
    seeds: int = typer.Option(5, "--seeds", min=1, help="Seeds per policy."),
    target: float | None = typer.Option(None, "--target", min=0.0, max=1.0, help="Latent ability to reach."),
    policy: list[str] = typer.Option(list(POLICIES), "--policy", help="Policies to compare (repeatable)."),
    out: Path | None = typer.Option(None, "--dir", help="Where the archives go (default: campaigns/<name>-simulated)."),
) -> None:
    """Run the real scheduler (selectors, stages, HGM's async rule, archive, budgets) on a simulated landscape:
    task evaluations and simulated wall time until an agent of the target ability first appears, per policy."""
    unknown = sorted(set(policy) - set(POLICIES))
    if unknown:
        raise typer.BadParameter(f"unknown policy {unknown[0]!r}; use {', '.join(POLICIES)}", param_hint="--policy")
    config = CampaignConfig.load(config_path)
    root = out or Path("campaigns") / f"{config.name}-simulated"
    if root.exists() and any(root.iterdir()):
        typer.echo(f"error: {root} already holds a simulation; choose another --dir (runs are not resumed)", err=True)
        raise typer.Exit(2)

    def said(name: str, seed: int, progress: Progress) -> None:
        reached = "not reached" if progress.reached_evaluations is None else f"{progress.reached_evaluations} evals"
        console.print(f"  {name} seed {seed}: {reached}, {progress.children} children")

    summary = compare(config, root, seeds, tuple(policy), target, on_run=said)
    (root / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    console.print(summary_table(summary))
    console.print(f"archives and summary.json in {root} (opendgm tree {root}/<policy>/seed-0)")


def summary_table(summary: dict) -> Table:
    """One row per policy: seeds that reached the target; median [25%-75%] evaluations and hours to get there."""
    table = Table(title=f"time to a latent ability of {summary['target']:g} ({summary['seeds']} seeds, "
                  f"{summary['task_evaluations_budget']} task evaluations each)")  # fmt: skip
    for column in ("policy", "reached", "task evaluations", "hours (simulated)", "best agent's ability"):
        table.add_column(column)
    for name, row in summary["policies"].items():
        table.add_row(
            name, f"{row['reached']}/{summary['seeds']}", figure(row["evaluations"], "{:.0f}"),
            figure(row["hours"], "{:.1f}"), figure(row["best_agent_ability"], "{:.3f}"),
        )  # fmt: skip
    return table


def figure(spread: dict, form: str) -> str:
    """'median [p25-p75]', with 'never' for a quantile past the seeds that reached the target."""

    def one(value: float | None) -> str:
        return "-" if value is None else "never" if math.isinf(value) else form.format(value)

    return f"{one(spread['median'])} [{one(spread['p25'])}-{one(spread['p75'])}]"
