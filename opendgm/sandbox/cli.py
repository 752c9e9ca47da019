"""`opendgm sandbox ...`: build the runtime image, check containment, clean up abandoned sandboxes."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from opendgm.sandbox.containment import CASES, run_suite, suite_spec
from opendgm.sandbox.factory import BACKEND_NAMES, BackendName, choose_backend, open_sandbox
from opendgm.sandbox.spec import DEFAULT_IMAGE

app = typer.Typer(help="Sandboxes: runtime image, containment check, clean-up.", no_args_is_help=True)
console = Console()


@app.command()
def build(
    tag: str = typer.Option(DEFAULT_IMAGE, help="Tag of the runtime image."),
    pull: bool = typer.Option(False, help="Pull the Debian base from a registry instead of debootstrap."),
    force: bool = typer.Option(False, help="Rebuild even when the Dockerfile is unchanged."),
) -> None:
    """Build the sandbox runtime image from the top-level Dockerfile (offline unless --pull)."""
    from opendgm.sandbox.images import build_runtime_image

    with console.status("building the sandbox image...") as status:
        outcome = build_runtime_image(tag, pull=pull, force=force, say=lambda msg: status.update(msg))
    verb = "built" if outcome.rebuilt else "already up to date:"
    console.print(f"[green]{verb}[/] {outcome.image} (base {outcome.base}, content {outcome.content_hash})")


@app.command()
def check(
    backend: str = typer.Option("auto", help="auto | docker | local | local-unsafe"),
    image: str = typer.Option(DEFAULT_IMAGE, help="Image for the Docker backend."),
) -> None:
    """Run the containment suite against a backend and print what was tried and whether it was held."""
    chosen = choose_backend(backend_option(backend))
    table = Table(title=f"containment check: {chosen} backend")
    for column in ("case", "tried", "result", "detail"):
        table.add_column(column)
    failures = 0
    with open_sandbox(suite_spec(image), chosen) as sandbox:
        for caveat in sandbox.caveats():
            console.print(f"[yellow]note:[/] {escape(caveat)}")
        for index, verdict in enumerate(run_suite(sandbox), start=1):
            console.print(f"[dim]{index}/{len(CASES)} {verdict.case}[/]")
            failures += not verdict.contained
            result = "[green]contained[/]" if verdict.contained else "[red]NOT contained[/]"
            table.add_row(verdict.case, verdict.tried, result, verdict.detail)
    console.print(table)
    if failures:
        raise typer.Exit(1)


@app.command()
def reap() -> None:
    """Remove opendgm sandboxes and temporary folders whose owner died or whose deadline passed (nothing else)."""
    from opendgm.sandbox.docker_client import docker_available
    from opendgm.sandbox.reaper import reap_abandoned_sandboxes
    from opendgm.sandbox.scratch import reap_folders

    folders = reap_folders()
    for folder in folders:
        console.print(f"removed {escape(folder.path)}: {folder.reason}")
    problem = docker_available()
    removed = reap_abandoned_sandboxes() if problem is None else []
    for item in removed:
        console.print(f"removed {item.container} ({escape(item.name)}): {item.reason}")
    console.print(f"{len(removed)} abandoned sandbox(es) and {len(folders)} temporary folder(s) removed")
    if problem is not None:
        console.print(f"containers not checked: no Docker engine answers ({escape(problem)})")


def backend_option(name: str) -> BackendName:
    if name not in BACKEND_NAMES:
        raise typer.BadParameter(f"unknown backend {name!r}; choose {', '.join(BACKEND_NAMES)}")
    return name  # type: ignore[return-value]
