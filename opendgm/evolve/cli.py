"""`opendgm run CONFIG` (start or resume a campaign) and `opendgm status CAMPAIGN` (look at one)."""

from __future__ import annotations

import sys
from collections import Counter
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.status import Status
from rich.text import Text

from opendgm.archive import Archive
from opendgm.archive.progress import Plan, printing
from opendgm.evaluators.in_flight import IN_FLIGHT
from opendgm.evolve.campaign import CONFIG_COPY, Campaign
from opendgm.evolve.config import CampaignConfig, ConfigProblem, field_errors
from opendgm.evolve.display import LiveView, campaign_plan, show_status
from opendgm.evolve.prompt_campaign import PromptCampaign
from opendgm.llm import Router
from opendgm.llm.local_server import serve_local_roles
from opendgm.llm.provider import require_keys
from opendgm.prompts.config import PromptCampaignConfig

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
    if is_prompt_campaign(config_path):
        _run_prompt_campaign(config_path, campaign_dir, heartbeat)
        return
    config = CampaignConfig.load(config_path)
    require_keys(config.llm.roles)
    root = campaign_dir or Path("campaigns") / config.name
    campaign = Campaign(config, root, accept_config_change=accept_config_change)
    campaign.retry_infra = retry_infra
    if console.is_terminal:
        view = LiveView(root, config, lambda: campaign.running)
        campaign.on_change = view.changed
        try:
            with Live(view, console=console, refresh_per_second=2, transient=False):
                reason = campaign.run()
        finally:
            view.close()
    else:
        with printing(root, campaign_plan(campaign), sys.stdout, heartbeat_s=heartbeat, in_flight=IN_FLIGHT.now):
            reason = campaign.run()
    console.print(Text.assemble(("campaign stopped:", "bold"), f" {reason}"), soft_wrap=True)
    resume = f"inspect it: opendgm tree {root}   |   resume: opendgm run {config_path} --dir {root}"
    console.print(Text(resume), soft_wrap=True)  # one line each in a log, however long the paths
    if campaign.exit_code:
        raise typer.Exit(campaign.exit_code)


def is_prompt_campaign(config_path: Path) -> bool:
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False  # the agent-campaign loader reports the problem
    return isinstance(raw, dict) and raw.get("kind") == "prompt"


def _run_prompt_campaign(config_path: Path, campaign_dir: Path | None, heartbeat_s: float) -> None:
    """A prompt search over prompt nodes: select on dev, report test (a spinner in a terminal, lines in a log)."""
    try:
        config = PromptCampaignConfig.from_yaml(config_path)
    except ValidationError as exc:
        raise ConfigProblem(f"{config_path} is not a valid prompt campaign config:\n{field_errors(exc)}") from exc
    require_keys(config.llm.roles)
    root = campaign_dir or Path("campaigns") / config.name
    archive = Archive.open(root) if (root / "archive.sqlite").exists() else Archive.create(root, config.name)
    if console.is_terminal:
        watching: AbstractContextManager[Status | None] = console.status(f"{config.operator}: evolving prompts...")
    else:
        plan = Plan(None, lambda archive: len(archive.summaries(kind="prompt")), unit="prompts")
        watching = printing(root, plan, sys.stdout, heartbeat_s=heartbeat_s)
    with archive, ExitStack() as stack, watching as spinner:
        llm = serve_local_roles(config.llm, config.local_server, stack)
        router = Router.from_config(llm, ledger=archive.ledger, campaign=config.name)
        campaign = PromptCampaign(config, archive, router)
        if spinner is not None:
            campaign.on_change = lambda: spinner.update(_prompt_progress(archive, config.operator))
        report = campaign.run()
    console.print(
        f"best prompt {report.best.id}: dev {report.best.dev:.3f}, test {report.best_test:.3f} "
        f"(seed {report.seed.id}: dev {report.seed.dev:.3f}, test {report.seed_test:.3f}); "
        f"{report.n_prompts} prompts\ninspect it: opendgm tree {root}"
    )


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
