"""`opendgm serve` (the live dashboard) and `opendgm plot` (PNG pictures): typer-ready commands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from opendgm.archive import Archive, ArchiveError
from opendgm.web.auth import bind_problem
from opendgm.web.campaigns import name_campaigns

errors = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    errors.print(Text.assemble(("error:", "red"), f" {message}"), soft_wrap=True)
    return typer.Exit(2)


def serve(
    campaign_dirs: list[Path] = typer.Argument(..., help="Campaign directories to show."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; beyond loopback a --token is required."),
    port: int = typer.Option(8765, help="TCP port."),
    token: str | None = typer.Option(None, envvar="OPENDGM_TOKEN", help="Require this token on every request."),
) -> None:
    """Serve a live, read-only dashboard of the campaigns' archive trees."""
    import uvicorn

    from opendgm.web.app import create_app

    problem = bind_problem(host, token)
    if problem:
        raise _fail(problem)
    for path in campaign_dirs:  # fail now, clearly, rather than on the first page load
        try:
            Archive.open(path, readonly=True).close()
        except ArchiveError as error:
            raise _fail(str(error)) from None
    campaigns = name_campaigns(campaign_dirs)
    where = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    errors.print(f"serving {', '.join(campaigns)} at {where}")
    uvicorn.run(create_app(campaigns, token), host=host, port=port, log_level="warning")


def plot(
    campaign_dir: Path = typer.Argument(..., help="The campaign directory."),
    out: Path = typer.Option(Path("."), "--out", help="Directory for the PNG files."),
) -> None:
    """Write <campaign>-progress.png (best/mean score vs nodes and vs spend) and <campaign>-tree.png."""
    from opendgm.web.plots import progress_png, tree_png

    try:
        archive = Archive.open(campaign_dir, readonly=True)
    except ArchiveError as error:
        raise _fail(str(error)) from None
    out.mkdir(parents=True, exist_ok=True)
    with archive:
        stem = next(iter(name_campaigns([campaign_dir])))
        for path in (progress_png(archive, out / f"{stem}-progress.png"), tree_png(archive, out / f"{stem}-tree.png")):
            errors.print(f"wrote {path}")
