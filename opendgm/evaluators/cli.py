"""`opendgm evaluators ...`: list installed evaluators, and verify that a grader is real."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from opendgm.archive.errors import ArchiveError
from opendgm.archive.progress import Plan, printing
from opendgm.evaluators import registry
from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.in_flight import IN_FLIGHT
from opendgm.evaluators.task import Grade, Task
from opendgm.evaluators.verify import Solution, verify
from opendgm.usage import UsageMistake

if TYPE_CHECKING:
    from opendgm.archive import Archive
    from opendgm.evaluators.runner import TaskOutcome

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
    from opendgm.sandbox.cli import _backend

    evaluator = _load(name, option)
    _warn_exit_code(evaluator)
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
    from opendgm.sandbox.cli import _backend

    evaluator = _load(name, option)
    _warn_exit_code(evaluator)
    tries = plan(evaluator.select(subset, limit))
    with _progress() as progress:
        bar = progress.add_task("hacks", total=len(tries))
        results = redteam(evaluator, tries, _backend(backend), workers, on_progress=lambda: progress.advance(bar))
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


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


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
    from opendgm.archive import Archive
    from opendgm.cluster import ExecutorConfig
    from opendgm.cluster.factory import cluster_runs, require_ray
    from opendgm.evaluators.evaluation import evaluate_stage
    from opendgm.evaluators.executor import Executor, LocalExecutor
    from opendgm.evaluators.judging import RubricJudge
    from opendgm.evaluators.llm_judge import LLMJudge
    from opendgm.evaluators.serving import JUDGE_ROLE, serve_models
    from opendgm.prompts.config import MPOOptions
    from opendgm.sandbox.cli import _backend
    from opendgm.sandbox.factory import choose_backend
    from opendgm.sandbox.images import build_runtime_image
    from opendgm.sandbox.spec import DEFAULT_IMAGE

    if executor_kind not in ("local", "ray"):
        raise UsageMistake(f"--executor is local or ray, got {executor_kind!r}")
    require_ray(ExecutorConfig(kind=executor_kind))  # type: ignore[arg-type]
    evaluator = _load(evaluator_name, option)
    tasks = evaluator.select(subset, limit)
    chosen = choose_backend(_backend(backend))
    if chosen == "docker" and any(task.image == DEFAULT_IMAGE for task in tasks):
        with console.status("checking the sandbox image...") as status:
            build_runtime_image(say=lambda message: status.update(message))
    archive = (
        Archive.open(campaign) if (campaign / "archive.sqlite").exists() else Archive.create(campaign, campaign.name)
    )
    with archive:
        node_id = _agent_node(archive, target)
        stage = subset if limit is None else f"{subset}[:{limit}]"
        console.print(f"evaluating node [bold]{node_id}[/] on {evaluator.name} {stage} ({len(tasks)} tasks)")
        executor: Executor = LocalExecutor(workers)
        if executor_kind == "ray":  # each node builds its own image and picks its own backend
            config = ExecutorConfig(kind="ray", address=address)
            executor = cluster_runs(config, dict(_key_value(item) for item in option), _backend(backend), DEFAULT_IMAGE,
                                    2048)  # fmt: skip
        watching = _watching(archive, node_id, evaluator, stage, tasks, heartbeat)
        with serve_models(archive, models) as gateway, watching as show:
            if isinstance(evaluator, LLMJudge):  # judged under the archive's rubric lineage, never refined here
                if JUDGE_ROLE not in gateway.router.roles:
                    raise UsageMistake(f"llm-judge needs a `{JUDGE_ROLE}` role in --models {models}")
                RubricJudge(archive, evaluator, gateway.router, MPOOptions(role=JUDGE_ROLE, refine="never"))
            archive.set_status(node_id, "evaluating")
            score = evaluate_stage(
                archive, node_id, evaluator, tasks, stage, gateway=gateway, executor=executor,
                backend=chosen, on_result=show,
            )  # fmt: skip
            archive.set_status(node_id, "evaluated")
        executor.shutdown()
        spent = archive.cost(node_id)
    console.print(
        f"[bold]{score.n_resolved}/{score.n_tasks} resolved[/] (score {score.score:.2f}); "
        f"{spent.calls} model calls, {spent.tokens} tokens, ${spent.cost_usd:.4f}\n"
        f"details: opendgm show {campaign} {node_id}",
        soft_wrap=True,
    )


@contextmanager
def _watching(
    archive: Archive, node_id: str, evaluator: Evaluator, stage: str, tasks: list[Task], heartbeat_s: float
) -> Iterator[Callable[[Task, TaskOutcome], None]]:
    """Progress while the tasks run: a bar and a line per task in a terminal; in a file or a pipe, one plain
    line per event and a heartbeat line every `heartbeat_s` seconds. Yields the per-task callback."""
    if not console.is_terminal:
        plan = Plan(len(tasks), partial(_stage_done, node_id=node_id, evaluator=evaluator, stage=stage))
        with printing(archive.root, plan, sys.stdout, heartbeat_s=heartbeat_s, in_flight=IN_FLIGHT.now):
            yield lambda _task, _outcome: None
        return
    with _progress() as progress:
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
    key = (evaluator.name, evaluator.version, stage)
    return next((s.n_done for s in scores if (s.evaluator, s.evaluator_version, s.stage) == key), 0)


def _agent_node(archive: Archive, target: str) -> str:
    """The node to evaluate: an existing node id, or a directory imported as a new root agent."""
    from opendgm.agents.contract import SEED_AGENTS, agent_source

    directory = agent_source(target)
    if directory.is_dir():
        return archive.add_agent(directory, operator="import", message=f"imported from {target}").id
    seeds = ", ".join(SEED_AGENTS)
    if directory.exists() or any(mark in target for mark in ("/", "\\", "~")) or target.startswith("."):
        raise UsageMistake(f"no agent directory {target}: evaluate takes a directory, a seed ({seeds}) or a node id")
    try:
        return archive.resolve(target)
    except ArchiveError as error:
        raise UsageMistake(f"{error}; nor is {target!r} an agent directory or a seed ({seeds})") from None


def _load(name: str, options: list[str]) -> Evaluator:
    """The evaluator with the user's `-o KEY=VALUE` options (the registry checks them against its declaration)."""
    return registry.load(name, **dict(_key_value(item) for item in options))


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise UsageMistake(f"evaluator options are -o KEY=VALUE, got {item!r}")
    return key, value
