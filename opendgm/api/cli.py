"""`opendgm evaluate`: a progress view over `opendgm.api.evaluate`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import typer
from rich.text import Text

from opendgm.api import Evaluation
from opendgm.api import evaluate as evaluate_agent
from opendgm.archive import Archive, Plan, printing
from opendgm.cluster import ExecutorConfig, require_ray
from opendgm.evaluators import IN_FLIGHT, Evaluator, Task, TaskOutcome
from opendgm.evaluators.cli import console, evaluator_options, progress_bar
from opendgm.sandbox.cli import backend_option
from opendgm.usage import UsageMistake


def evaluate(
    target: str = typer.Argument("seed", help="An agent directory, a built-in seed (seed, dgm-initial), or a node id."),
    evaluator_name: str = typer.Option("humaneval", "--evaluator", "-e", help="Evaluator name."),
    subset: str = typer.Option("small", help="Subset name or comma-separated task ids."),
    limit: int | None = typer.Option(None, min=1, help="Run at most this many tasks of the subset."),
    campaign: Path = typer.Option(Path("campaigns/adhoc"), help="Campaign directory (created if missing)."),
    models: Path | None = typer.Option(None, help="Model config YAML (roles; default: embedded SmolLM2)."),
    option: list[str] = typer.Option([], "--option", "-o", help="Evaluator option KEY=VALUE (e.g. path=DIR)."),
    workers: int = typer.Option(2, min=1, help="Tasks run in parallel."),
    backend: str = typer.Option("auto", help="Sandbox backend: auto | docker | local."),
    heartbeat: float = typer.Option(
        60.0, "--heartbeat", min=0.1, help="Seconds between heartbeat lines when stdout is not a terminal."
    ),
    executor_kind: str = typer.Option("local", "--executor", help="Where tasks run: local | ray (a Ray cluster)."),
    address: str = typer.Option(
        "auto", "--ray-address", help="With --executor ray: auto | ray://HOST:PORT | HOST:PORT."
    ),
) -> None:
    """Run an agent on an evaluator's tasks in sandboxes and record every result in the campaign archive.

    In a terminal a progress bar and a line per task; with stdout in a file or a pipe, one plain line per event
    and a heartbeat line (elapsed, tasks done, tasks in flight, spend, ETA)."""
    if executor_kind not in ("local", "ray"):
        raise UsageMistake(f"--executor is local or ray, got {executor_kind!r}")
    placement = ExecutorConfig(kind=executor_kind, address=address)  # type: ignore[arg-type]
    require_ray(placement)
    result = evaluate_agent(
        target, evaluator=evaluator_name, options=evaluator_options(option), subset=subset,
        limit=limit, directory=campaign, models=models, workers=workers, backend=backend_option(backend),
        executor=placement, watch=partial(_watching, heartbeat_s=heartbeat),
        say=lambda message: console.print(Text(message, "dim")),
    )  # fmt: skip
    spent = result.spent
    console.print(
        f"[bold]{result.score.n_resolved}/{result.score.n_tasks} resolved[/] (score {result.score.score:.2f}); "
        f"{spent.calls} model calls, {spent.tokens} tokens, ${spent.cost_usd:.4f}\n"
        f"details: opendgm show {campaign} {result.node_id}",
        soft_wrap=True,
    )


@contextmanager
def _watching(evaluation: Evaluation, heartbeat_s: float) -> Iterator[Callable[[Task, TaskOutcome], None]]:
    """Progress while the tasks run: a bar and a line per task in a terminal; in a file or a pipe, one plain
    line per event and a heartbeat line every `heartbeat_s` seconds. Yields the per-task callback."""
    archive, node_id, evaluator, stage, tasks = (
        evaluation.archive, evaluation.node_id, evaluation.evaluator, evaluation.stage, evaluation.tasks,
    )  # fmt: skip
    console.print(f"evaluating node [bold]{node_id}[/] on {evaluator.name} {stage} ({len(tasks)} tasks)")
    if not console.is_terminal:
        plan = Plan(len(tasks), partial(_stage_done, node_id=node_id, evaluator=evaluator, stage=stage))
        with printing(archive.root, plan, sys.stdout, heartbeat_s=heartbeat_s, in_flight=IN_FLIGHT.now):
            yield lambda _task, _outcome: None
        return
    with progress_bar() as progress:
        bar = progress.add_task("tasks", total=len(tasks))

        def show(task: Task, outcome: TaskOutcome) -> None:
            colour = "green" if outcome.resolved else "red" if outcome.infrastructure_failure else "yellow"
            note = " (not recorded: will be retried)" if outcome.infrastructure_failure else ""
            line = Text.assemble(f"  {task.id}: ", (outcome.status, colour), f"{note} {outcome.detail}")
            progress.console.print(line[:240])
            progress.advance(bar)

        yield show
        progress.update(bar, completed=len(tasks))


def _stage_done(archive: Archive, *, node_id: str, evaluator: Evaluator, stage: str) -> int:
    """Tasks of the stage with a result (cached ones included)."""
    scores = archive.scores(node_id)
    return next((s.n_done for s in scores if (s.evaluator, s.evaluator_version, s.stage) == (*evaluator.key, stage)), 0)
