"""`opendgm run CONFIG` (start or resume a campaign) and `opendgm status CAMPAIGN` (look at one)."""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.text import Text

from opendgm.archive import Archive
from opendgm.evolve.campaign import CONFIG_COPY, Campaign
from opendgm.evolve.config import CampaignConfig, ConfigProblem, field_errors
from opendgm.evolve.display import show_status, status_table
from opendgm.llm import Router
from opendgm.llm.local_server import serve_local_roles
from opendgm.prompts.campaign import PromptCampaign
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
) -> None:
    """Start a campaign, or resume it where it stopped (Ctrl-C, SIGTERM or SIGHUP once: finish in-flight work;
    twice: stop now). Exits 0 when done, 3 at a budget or limit, 4 on a persistent infrastructure failure,
    128 + the signal's number when stopped by one.

    A config with `kind: prompt` is a standalone prompt campaign (PE2, APE or OPRO over prompt nodes).
    """
    if is_prompt_campaign(config_path):
        _run_prompt_campaign(config_path, campaign_dir)
        return
    config = CampaignConfig.load(config_path)
    root = campaign_dir or Path("campaigns") / config.name
    campaign = Campaign(config, root)
    campaign.retry_infra = retry_infra
    with Live(console=console, refresh_per_second=2, transient=False) as live:

        def refresh() -> None:
            if hasattr(campaign, "archive"):
                live.update(status_table(campaign.archive, config, campaign.running))

        campaign.on_change = refresh
        reason = campaign.run()
    console.print(Text.assemble(("campaign stopped:", "bold"), f" {reason}"))
    console.print(Text(f"inspect it: opendgm tree {root}   |   resume: opendgm run {config_path} --dir {root}"))
    if campaign.exit_code:
        raise typer.Exit(campaign.exit_code)


def is_prompt_campaign(config_path: Path) -> bool:
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False  # the agent-campaign loader reports the problem
    return isinstance(raw, dict) and raw.get("kind") == "prompt"


def _run_prompt_campaign(config_path: Path, campaign_dir: Path | None) -> None:
    """A prompt search over prompt nodes: select on dev, report test."""
    try:
        config = PromptCampaignConfig.from_yaml(config_path)
    except ValidationError as exc:
        raise ConfigProblem(f"{config_path} is not a valid prompt campaign config:\n{field_errors(exc)}") from exc
    root = campaign_dir or Path("campaigns") / config.name
    archive = Archive.open(root) if (root / "archive.sqlite").exists() else Archive.create(root, config.name)
    with archive, ExitStack() as stack, console.status(f"{config.operator}: evolving prompts...") as spinner:
        llm = serve_local_roles(config.llm, config.local_server, stack)
        router = Router.from_config(llm, ledger=archive.ledger, campaign=config.name)
        campaign = PromptCampaign(config, archive, router)
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
