"""`opendgm evaluators ...`: list installed evaluators, and verify that a grader is real."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from opendgm.evaluators import registry
from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.task import Grade, Task
from opendgm.evaluators.verify import Solution, verify
from opendgm.usage import UsageMistake

app = typer.Typer(help="Evaluators: list them, verify their graders, red-team them.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_evaluators() -> None:
    """Show every installed evaluator (built-in or from another package) with its version and subsets."""
    table = Table(title="evaluators (entry-point group opendgm.evaluators)")
    for column in ("name", "provided by", "version", "subsets"):
        table.add_column(column)
    for name, entry in sorted(registry.available().items()):
        provider = entry.dist.name if entry.dist else entry.value
        try:
            evaluator = registry.load(name)
            subsets = ", ".join(f"{k} ({len(v)})" for k, v in evaluator.subsets().items())
            table.add_row(name, provider, evaluator.version, subsets)
        except (TypeError, FileNotFoundError):  # needs options, or data not imported yet: listed by its entry
            table.add_row(name, provider, "-", f"needs options; see {entry.value}")
    console.print(table)


@app.command("verify")
def verify_grader(
    name: str = typer.Argument(..., help="Evaluator name, e.g. humaneval."),
    subset: str = typer.Option("small", help="Subset name or comma-separated task ids."),
    solution: str = typer.Option("both", help="reference | stub | both"),
    backend: str = typer.Option("auto", help="auto | docker | local"),
    workers: int = typer.Option(2, min=1, help="Parallel sandboxes."),
    option: list[str] = typer.Option([], "--option", "-o", help="Evaluator option KEY=VALUE (e.g. path=DIR)."),
) -> None:
    """Grade reference solutions (must all resolve) and untouched stubs (must all fail)."""
    from opendgm.sandbox.cli import backend_option

    evaluator = _load(name, option)
    _warn_exit_code(evaluator)
    tasks = evaluator.select(subset)
    kinds: list[Solution] = ["reference", "stub"] if solution == "both" else [solution]  # type: ignore[list-item]
    broken = 0
    for kind in kinds:
        with progress_bar() as progress:
            bar = progress.add_task(f"{kind} solutions", total=len(tasks))

            def advance(_task: Task, _grade: Grade | BaseException, bar: TaskID = bar) -> None:
                progress.advance(bar)

            result = verify(evaluator, tasks, kind, backend_option(backend), workers, advance)
        expected = result.total if kind == "reference" else 0
        colour = "green" if result.resolved == expected and not result.failures else "red"
        console.print(
            f"[{colour}]{kind}: {result.resolved}/{result.total} resolved[/] (expected {expected}/{result.total}); "
            f"statuses: {dict(result.statuses)}"
        )
        for task_id, output in result.failures[:10]:
            console.print(Text.assemble("  ", (task_id, "red"), f": {output}"))
        broken += len(result.failures)
    if broken:
        raise typer.Exit(1)


@app.command("redteam")
def redteam_grader(
    name: str = typer.Argument(..., help="Evaluator name, e.g. humaneval."),
    subset: str = typer.Option("small", help="Subset name or comma-separated task ids."),
    limit: int | None = typer.Option(None, min=1, help="Use at most this many tasks of the subset."),
    backend: str = typer.Option("auto", help="auto | docker | local"),
    workers: int = typer.Option(2, min=1, help="Parallel sandboxes."),
    option: list[str] = typer.Option([], "--option", "-o", help="Evaluator option KEY=VALUE (e.g. path=DIR)."),
) -> None:
    """Grade known reward hacks (runner shadowing, exit tricks, import hooks, neutered tests, ...) as agent
    patches on the evaluator's tasks: a sound grader resolves none of them (exit 1 otherwise)."""
    from opendgm.evaluators.redteam import plan, redteam
    from opendgm.sandbox.cli import backend_option

    evaluator = _load(name, option)
    _warn_exit_code(evaluator)
    tries = plan(evaluator.select(subset, limit))
    with progress_bar() as progress:
        bar = progress.add_task("hacks", total=len(tries))
        results = redteam(evaluator, tries, backend_option(backend), workers, on_progress=lambda: progress.advance(bar))
    for result in results:
        colour = "green" if result.sound else "red"
        line = Text.assemble(
            (f"{result.hack.name}: {len(result.resolved)}/{result.tried} resolved", colour),
            f" ({result.hack.summary}); statuses: {dict(result.statuses)}",
        )
        console.print(line)
        for task_id, why in [(task_id, "resolved") for task_id in result.resolved[:5]] + result.broken[:5]:
            console.print(Text.assemble("  ", (task_id, "red"), f": {why}"))
    resolved = sum(len(result.resolved) for result in results)
    console.print(Text(f"{name}: {resolved}/{len(tries)} hacks resolved", "green" if resolved == 0 else "red"))
    if not tries or not all(result.sound for result in results):
        raise typer.Exit(1)


def _warn_exit_code(evaluator: Evaluator) -> None:
    if evaluator.grades_by_exit_code:
        console.print(
            Text(
                f"warning: {evaluator.name} grades by its test command's exit code, which the code under test can "
                "forge; grade from per-test outcomes against an expected list (see opendgm.evaluators.grader)",
                "yellow",
            )
        )


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def _load(name: str, options: list[str]) -> Evaluator:
    """The evaluator with the user's `-o KEY=VALUE` options (the registry checks them against its declaration)."""
    return registry.load(name, **evaluator_options(options))


def evaluator_options(items: list[str]) -> dict[str, str]:
    """The user's `-o KEY=VALUE` evaluator options (the registry checks them against the evaluator's declaration)."""
    return dict(_key_value(item) for item in items)


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise UsageMistake(f"evaluator options are -o KEY=VALUE, got {item!r}")
    return key, value
