"""Evaluating an archive node on one stage: cached by code hash, fanned out, every result recorded.

The archive keys results by the agent's code hash, so the same code is never evaluated twice; a stage
that was interrupted resumes with exactly the tasks that have no result yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from opendgm.archive import Archive, EvaluatorKey, ResultRecord, Score, TaskResult
from opendgm.evaluators import infra_retries
from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.executor import Executor, UnitExecutor
from opendgm.evaluators.in_flight import IN_FLIGHT
from opendgm.evaluators.runner import TaskOutcome, TaskRunner, infrastructure
from opendgm.evaluators.task import Judge, Task
from opendgm.llm import Gateway
from opendgm.outcomes import INFRA_EVENT, InfraEvent, Verdict
from opendgm.sandbox import BackendName, choose_backend, reachable_scratch

OnResult = Callable[[Task, TaskOutcome], None]


def ignore(_task: Task, _outcome: TaskOutcome) -> None:
    """The default `on_result`: nobody watches."""


@dataclass(frozen=True)
class EvaluationContext:
    """Where and how a node's tasks run, the same for every task of an evaluation: the gateway its agents reach
    the models through (None: no model), the executor (a local pool or a cluster), the sandbox backend, the memory
    of each agent's sandbox (the campaign's `sandbox.memory_mb`), the judge passed into each grading call of an
    evaluator that needs one, and `on_result`, told of each outcome as it lands."""

    executor: Executor
    gateway: Gateway | None = None
    backend: BackendName = "auto"
    memory_mb: int = 2048
    judge: Judge | None = None
    on_result: OnResult = ignore


def evaluate_stage(
    archive: Archive, node_id: str, evaluator: Evaluator, tasks: list[Task], stage: str, context: EvaluationContext
) -> Score:
    """Run the node's agent on every task of the stage that has no result yet; return the stage score.

    Outcomes caused by the infrastructure (the engine, a model service that errored, a budget that ran out, the
    host) are logged as events, not stored as results, so a rerun tries those tasks again, unless they are
    `infra_exhausted` (see infra_retries).
    """
    archive.record_stage(node_id, *evaluator.key, stage, [task.id for task in tasks])
    missing = {task_id for task_id, _attempt in archive.missing_tasks(node_id, *evaluator.key, stage)}
    todo = [task for task in tasks if task.id in missing - infra_retries.exhausted(archive, node_id)]
    evaluate_tasks(archive, node_id, evaluator, todo, context)
    return stage_score(archive, node_id, evaluator.key, stage)


def evaluate_tasks(
    archive: Archive, node_id: str, evaluator: Evaluator, tasks: list[Task], context: EvaluationContext
) -> list[TaskOutcome]:
    """Run the node's agent on `tasks` and record each verdict, or log each infrastructure event (the caller
    decides which tasks are due); returns the outcomes."""
    outcomes: list[TaskOutcome] = []
    if not tasks:
        return outcomes
    with _runs(archive, node_id, evaluator, tasks, context) as runs:
        for task, outcome, attempt in runs:
            if outcome.infra is not None:
                # Not the agent's doing (engine, model service, budget, host): no result, so a rerun retries it.
                data = {"task": task.id, "kind": outcome.infra.kind, "detail": outcome.infra.detail}
                archive.log_event(INFRA_EVENT, node_id, data)
            else:
                record_outcome(archive, node_id, evaluator.key, outcome, attempt)
            outcomes.append(outcome)
            context.on_result(task, outcome)
    return outcomes


@contextmanager
def _runs(
    archive: Archive, node_id: str, evaluator: Evaluator, tasks: list[Task], context: EvaluationContext
) -> Iterator[Iterator[tuple[Task, TaskOutcome, int]]]:
    """(task, outcome, attempt) as each task ends: on a cluster's nodes, or here in the executor's threads."""
    executor, gateway = context.executor, context.gateway
    if isinstance(executor, UnitExecutor):
        if gateway is None:
            raise ValueError("a cluster evaluation needs the head's gateway (its router's roles and budget)")
        yield executor.run_tasks(archive, node_id, evaluator.key, tasks, gateway.router)
        return
    with reachable_scratch(prefix="opendgm-agent-") as scratch:  # the local backend mounts the agent's code
        agent_dir = archive.materialize(node_id, scratch / "agent")
        runner = TaskRunner(
            evaluator, agent_dir, gateway, node=node_id, backend=choose_backend(context.backend),
            campaign=archive.campaign, memory_mb=context.memory_mb, judge=context.judge,
        )  # fmt: skip
        yield (
            (task, outcome if not isinstance(outcome, BaseException) else _host_failure(task, outcome), 0)
            for task, outcome in executor.map_unordered(IN_FLIGHT.tracking(node_id, runner.run), tasks)
        )


def _host_failure(task: Task, error: BaseException) -> TaskOutcome:
    """A bug or a host failure while running a task: kept as an infrastructure event, not raised."""
    return infrastructure(task.id, InfraEvent("host", f"{type(error).__name__}: {error}"))


def stage_score(archive: Archive, node_id: str, key: EvaluatorKey, stage: str) -> Score:
    return next(
        score
        for score in archive.scores(node_id)
        if (score.evaluator, score.evaluator_version, score.stage) == (*key, stage)
    )


def record_outcome(
    archive: Archive, node_id: str, key: EvaluatorKey, outcome: TaskOutcome, attempt: int = 0
) -> TaskResult:
    """Store the outcome's artifacts and its result row (under `attempt`); the model spend comes from the ledger."""
    folder = f"results/{node_id}/{key.name}/{outcome.task_id}"
    put = archive.artifacts.put
    patch_path = put(f"{folder}/patch.diff", outcome.patch) if outcome.patch else None
    trajectory_path = put(f"{folder}/trajectory.jsonl", outcome.trajectory) if outcome.trajectory else None
    log = f"# agent\n{outcome.agent_log}\n# grading\n{outcome.grading_log}\n"
    calls = [call for call in archive.ledger.calls(node=node_id) if call.purpose == f"agent {outcome.task_id}"]
    record = ResultRecord(
        node_id,
        key,
        outcome.task_id,
        cast(Verdict, outcome.status),  # verdicts only reach here; record_result refuses anything else
        attempt=attempt,
        tests_passed=outcome.tests_passed,
        tests_failed=outcome.tests_failed,
        exit_code=outcome.exit_code,
        duration_s=outcome.duration_s,
        log_path=put(f"{folder}/log.txt", log),
        trajectory_path=trajectory_path,
        patch_path=patch_path,
        cost_usd=sum(call.cost_usd for call in calls),
        tokens=sum(call.prompt_tokens + call.completion_tokens for call in calls),
        detail=outcome.detail or None,
    )
    return archive.record_result(record)
