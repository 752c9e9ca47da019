"""`opendgm evaluators ...`: list installed evaluators, and verify that a grader is real."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from opendgm.evaluators import registry
from opendgm.evaluators.task import Grade, Task
from opendgm.evaluators.verify import Solution, verify

app = typer.Typer(help="Evaluators: list them, verify their graders.", no_args_is_help=True)
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
        except TypeError:  # needs options (a task directory, a judge model): listed, described by its entry
            table.add_row(name, provider, "-", f"needs options; see {entry.value}")
    console.print(table)


@app.command("verify")
def verify_grader(
    name: str = typer.Argument(..., help="Evaluator name, e.g. humaneval."),
    subset: str = typer.Option("small", help="Subset name or comma-separated task ids."),
    solution: str = typer.Option("both", help="reference | stub | both"),
    backend: str = typer.Option("auto", help="auto | docker | local"),
    workers: int = typer.Option(2, min=1, help="Parallel sandboxes."),
) -> None:
    """Grade reference solutions (must all resolve) and untouched stubs (must all fail)."""
    from opendgm.sandbox.cli import _backend

    evaluator = registry.load(name)
    tasks = evaluator.select(subset)
    kinds: list[Solution] = ["reference", "stub"] if solution == "both" else [solution]  # type: ignore[list-item]
    broken = 0
    for kind in kinds:
        with _progress() as progress:
            bar = progress.add_task(f"{kind} solutions", total=len(tasks))

            def advance(_task: Task, _grade: Grade | BaseException, bar: int = bar) -> None:
                progress.advance(bar)

            result = verify(evaluator, tasks, kind, _backend(backend), workers, advance)
        expected = result.total if kind == "reference" else 0
        colour = "green" if result.resolved == expected and not result.failures else "red"
        console.print(
            f"[{colour}]{kind}: {result.resolved}/{result.total} resolved[/] (expected {expected}/{result.total}); "
            f"statuses: {dict(result.statuses)}"
        )
        for task_id, output in result.failures[:10]:
            console.print(f"  [red]{task_id}[/]: {output}")
        broken += len(result.failures)
    if broken:
        raise typer.Exit(1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
