"""`opendgm run CONFIG` (start or resume a campaign) and `opendgm status CAMPAIGN` (look at one)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.live import Live

from opendgm.archive import Archive
from opendgm.evolve.campaign import CONFIG_COPY, Campaign
from opendgm.evolve.config import CampaignConfig
from opendgm.evolve.display import status_table

console = Console()


def run(
    config_path: Path = typer.Argument(..., help="Campaign config (YAML), e.g. examples/quickstart.yaml."),
    campaign_dir: Path | None = typer.Option(
        None, "--dir", help="Campaign directory (default: campaigns/<name>); an existing one is resumed."
    ),
) -> None:
    """Start a campaign, or resume it where it stopped (Ctrl-C once: finish in-flight work; twice: stop now)."""
    config = CampaignConfig.load(config_path)
    root = campaign_dir or Path("campaigns") / config.name
    campaign = Campaign(config, root)
    with Live(console=console, refresh_per_second=2, transient=False) as live:

        def refresh() -> None:
            if hasattr(campaign, "archive"):
                live.update(status_table(campaign.archive, config, campaign.running))

        campaign.on_change = refresh
        reason = campaign.run()
    console.print(f"[bold]campaign stopped:[/] {reason}")
    console.print(f"inspect it: opendgm tree {root}   |   resume: opendgm run {config_path} --dir {root}")


def status(campaign_dir: Path = typer.Argument(..., help="A campaign directory (running or not).")) -> None:
    """Show a campaign's progress, read-only: safe while it runs elsewhere."""
    copy = campaign_dir / CONFIG_COPY
    config = CampaignConfig.model_validate_json(copy.read_text()) if copy.exists() else None
    with Archive.open(campaign_dir, readonly=True) as archive:
        console.print(status_table(archive, config))
