"""`opendgm run CONFIG` (start or resume a campaign) and `opendgm status CAMPAIGN` (look at one)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import typer
from rich.console import Console
from rich.live import Live
from rich.status import Status
from rich.text import Text

from opendgm.archive import Archive, Plan, printing
from opendgm.evaluators import IN_FLIGHT
from opendgm.evolve import prompt_campaign
from opendgm.evolve.campaign import Campaign, open_campaign
from opendgm.evolve.config import CampaignConfig, load_any
from opendgm.evolve.display import LiveView, campaign_plan, show_status
from opendgm.evolve.opening import CONFIG_COPY, Setup
from opendgm.llm import require_keys
from opendgm.prompts import PromptCampaignConfig

console = Console()


def run(
    config_path: Path = typer.Argument(..., help="Campaign config (YAML), e.g. examples/quickstart.yaml."),
    campaign_dir: Path | None = typer.Option(
        None, "--dir", help="Campaign directory (default: campaigns/<name>); an existing one is resumed."
    ),
    retry_infra: bool = typer.Option(
        False, "--retry-infra", help="Run again the tasks given up after repeated infrastructure failures."
    ),
    accept_config_change: bool = typer.Option(
        False,
        "--accept-config-change",
        help="Resume although the evaluator, its options or version, or the stages changed: every agent is "
        "evaluated again under the new config; its old scores are kept and shown as stale.",
    ),
    heartbeat: float = typer.Option(
        60.0, "--heartbeat", min=0.1, help="Seconds between heartbeat lines when stdout is not a terminal."
    ),
) -> None:
    """Start a campaign, or resume it where it stopped (Ctrl-C, SIGTERM or SIGHUP once: finish in-flight work;
    twice: stop now). Exits 0 when done, 3 at a budget or limit, 4 on a persistent infrastructure failure,
    128 + the signal's number when stopped by one.

    In a terminal a live view shows the campaign; with stdout in a file or a pipe (nohup, a batch scheduler)
    it prints one line per event (node states, task results, stages, budget) and a heartbeat line.
    A config with `kind: prompt` is a standalone prompt campaign (PE2, APE or OPRO over prompt nodes).
    """
    config = load_any(config_path)
    require_keys(config.llm.roles)
    if isinstance(config, PromptCampaignConfig):
        _run_prompt_campaign(config, campaign_dir, heartbeat)
        return
    root = campaign_dir or Path("campaigns") / config.name
    setup = Setup.of(config)
    opening = partial(open_campaign, setup, root, accept_config_change=accept_config_change, retry_infra=retry_infra)
    campaign: Campaign | None = None
    if console.is_terminal:
        view = LiveView(root, config, lambda: campaign.running if campaign is not None else 0)
        try:
            with Live(view, console=console, refresh_per_second=2, transient=False), opening(view.changed) as campaign:
                reason, exit_code = campaign.run(), campaign.exit_code
        finally:
            view.close()
    else:
        lines = printing(root, campaign_plan(setup), sys.stdout, heartbeat_s=heartbeat, in_flight=IN_FLIGHT.now)
        with lines, opening() as campaign:
            reason, exit_code = campaign.run(), campaign.exit_code
    console.print(Text.assemble(("campaign stopped:", "bold"), f" {reason}"), soft_wrap=True)
    resume = f"inspect it: opendgm tree {root}   |   resume: opendgm run {config_path} --dir {root}"
    console.print(Text(resume), soft_wrap=True)  # one line each in a log, however long the paths
    if exit_code:
        raise typer.Exit(exit_code)


def _run_prompt_campaign(config: PromptCampaignConfig, campaign_dir: Path | None, heartbeat_s: float) -> None:
    """A prompt search over prompt nodes: select on dev, report test (a spinner in a terminal, lines in a log)."""
    root = campaign_dir or Path("campaigns") / config.name
    if console.is_terminal:
        with console.status(f"{config.operator}: evolving prompts...") as spinner:
            report = prompt_campaign.run_in(config, root, partial(_spinning, spinner, config.operator))
    else:
        plan = Plan(None, lambda archive: len(archive.summaries(kind="prompt")), unit="prompts")
        with printing(root, plan, sys.stdout, heartbeat_s=heartbeat_s):
            report = prompt_campaign.run_in(config, root, lambda _archive: lambda: None)
    console.print(
        f"best prompt {report.best.id}: dev {report.best.dev:.3f}, test {report.best_test:.3f} "
        f"(seed {report.seed.id}: dev {report.seed.dev:.3f}, test {report.seed_test:.3f}); "
        f"{report.n_prompts} prompts\ninspect it: opendgm tree {root}"
    )


def _spinning(spinner: Status, operator: str, archive: Archive) -> Callable[[], None]:
    """The spinner's text follows the archive: prompts by status and model calls so far."""
    return lambda: spinner.update(_prompt_progress(archive, operator))


def _prompt_progress(archive: Archive, operator: str) -> str:
    """One status line: prompts by status and model calls so far."""
    counts = Counter(node.status for node in archive.nodes(kind="prompt"))
    spent = archive.ledger.totals(campaign=archive.campaign)
    made = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"{operator}: {sum(counts.values())} prompts ({made}); {spent.calls} model calls, {spent.tokens} tokens"


def status(
    campaign_dir: Path = typer.Argument(..., help="A campaign directory (running or not)."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as one JSON document (a line per refresh)."),
    watch: bool = typer.Option(False, "--watch", help="Refresh until Ctrl-C."),
    interval: float = typer.Option(2.0, min=0.2, help="Seconds between refreshes with --watch."),
) -> None:
    """Show a campaign's progress, read-only: safe while it runs elsewhere."""
    copy = campaign_dir / CONFIG_COPY
    config = CampaignConfig.model_validate_json(copy.read_text()) if copy.exists() else None
    with Archive.open(campaign_dir, readonly=True) as archive:
        show_status(archive, config, as_json=as_json, watch=watch, interval=interval)
