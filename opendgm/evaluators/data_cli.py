"""`opendgm data ...`: bring benchmark data in from local copies, and build the images its tasks run in."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from opendgm.evaluators.polyglot_data import default_polyglot_dir, import_polyglot
from opendgm.evaluators.polyglot_images import build_language_image
from opendgm.evaluators.polyglot_languages import LANGUAGES

app = typer.Typer(help="Benchmark data: import local copies, build their task images.", no_args_is_help=True)
import_app = typer.Typer(help="Copy a benchmark from a local checkout into opendgm's data directory.")
images_app = typer.Typer(help="Build the images a benchmark's tasks run in (offline).")
app.add_typer(import_app, name="import")
app.add_typer(images_app, name="images")
console = Console()


@import_app.command("polyglot")
def import_polyglot_command(
    path: Path = typer.Argument(..., exists=True, file_okay=False, help="A checkout of Aider-AI/polyglot-benchmark."),
    dest: Path | None = typer.Option(None, help="Where to put the exercises (default: the XDG data directory)."),
) -> None:
    """Copy the polyglot benchmark's exercises to where the `polyglot` evaluator reads them."""
    target = dest or default_polyglot_dir()
    try:
        count = import_polyglot(path, target)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"imported {count} exercises to {target}")
    if dest is not None:
        console.print(f"use them with: opendgm evaluate -e polyglot -o path={target}")


@images_app.command("polyglot")
def polyglot_images_command(
    language: list[str] = typer.Option([], "--language", "-l", help="Languages (repeat the option)."),
    all_languages: bool = typer.Option(False, "--all", help="All six languages."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if an image of the same content exists."),
) -> None:
    """Build each language's toolchain image on the runtime image (Debian packages, npm: no Docker registry)."""
    names = list(LANGUAGES) if all_languages else language
    if not names:
        raise typer.BadParameter(f"name languages with -l LANG, or --all; known: {', '.join(LANGUAGES)}")
    for name in names:
        if name not in LANGUAGES:
            raise typer.BadParameter(f"unknown language {name!r}; known: {', '.join(LANGUAGES)}")
    for name in names:
        started = time.monotonic()
        with console.status(f"{name}...") as status:
            image = build_language_image(LANGUAGES[name], say=lambda message: status.update(message), force=force)
        console.print(f"[green]{name}[/]: {escape(image)} ({time.monotonic() - started:.0f} s)")
