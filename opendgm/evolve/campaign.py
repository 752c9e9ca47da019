"""The campaign: grows the archive generation by generation, and survives being killed at any point.

Every node moves through durable states (proposed, modifying, built, validating, evaluating, evaluated,
or rejected/failed with a reason), and each transition is committed before the work it starts. Running
the same campaign directory again resumes: finished work is kept, interrupted work restarts from its
last durable step, per-task results are never duplicated (they are keyed by code hash), and the
abandoned sandboxes of a killed run are reaped at start-up.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from opendgm import tracking
from opendgm.agents import agent_source
from opendgm.archive import Node, NodeSummary, Score, credit
from opendgm.cluster import cluster_runs
from opendgm.evaluators import (
    EvaluationContext,
    Executor,
    LocalExecutor,
    Rejected,
    RubricJudge,
    Task,
    TaskOutcome,
    evaluate_stage,
    evaluate_tasks,
    infra_retries,
    self_modification,
)
from opendgm.evolve import entries, opening, prompt_slots, proposals, scoring, self_improve
from opendgm.evolve.config import CampaignConfig, StageConfig
from opendgm.evolve.opening import POOL_STAGE, Setup
from opendgm.evolve.selectors import SELECTORS, expandable
from opendgm.evolve.selectors import hgm as hgm_select
from opendgm.evolve.stopping import InfraStopped, StopNow, Stopped, StopRequest, check_limits, graceful_stop
from opendgm.llm import BudgetExceeded, LLMError
from opendgm.outcomes import (
    INFRA_EVENT,
    MAX_INFRA_FAILURES,
    InfraEvent,
    InfrastructureFailure,
    from_llm_error,
    from_sandbox_error,
)
from opendgm.prompts import completer, meta_prompts
from opendgm.sandbox import SandboxError, reachable_scratch, reap_own
from opendgm.session import Session, open_session, prepare_sandboxes

if TYPE_CHECKING:
    from opendgm.cluster import ClusterRuns

log = logging.getLogger(__name__)

PENDING = ("proposed", "modifying", "built", "validating", "evaluating")


class Campaign:
    """One campaign over an open directory, complete once made (`open_campaign` makes it): `run()` starts it or
    resumes it."""

    def __init__(
        self,
        setup: Setup,
        session: Session,
        *,
        cluster: ClusterRuns | None = None,
        judge: RubricJudge | None = None,
        on_change: Callable[[], None] = lambda: None,
        retry_infra: bool = False,
    ) -> None:
        """`cluster`: where evaluations, self-modifications and validations run (None: this machine). `judge`: the
        llm-judge evaluator's rubric lineage. `retry_infra` (`--retry-infra`): tasks given up after repeated
        infrastructure failures are due again. `on_change`: called whenever the archive changed (a live view
        refreshes there)."""
        self.config, self.on_change = setup.config, on_change
        self.archive, self.router, self.gateway = session.archive, session.router, session.gateway
        self.backend, self.stage_tasks, self.stage_names = setup.backend, setup.stage_tasks, setup.stage_names
        self.evaluator = judge.evaluator if judge is not None else setup.evaluator  # MPO may adopt another rubric
        self.cluster, self.judge = cluster, judge
        self.stop_requested = StopRequest()
        self.exit_code = 0  # how `opendgm run` exits: 0 finished, 3 a limit, 4 infrastructure, 128 + a signal
        self.retry_infra = retry_infra
        self.started = time.monotonic()
        self.running = 0  # pipelines in flight, for the live display
        self._lock = threading.Lock()

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> str:
        """Grow the archive until a limit is reached; returns why it stopped."""
        with graceful_stop(self.stop_requested, lambda: reap_own(self.archive.campaign)):
            self.archive.log_event("campaign_started", data={"backend": self.backend})
            if self.retry_infra:
                infra_retries.retry_infra(self.archive)
            try:
                reason = self._grow()
            except Stopped as stop:
                reason, self.exit_code = str(stop), stop.exit_code
            except StopNow as now:  # a second signal: the work in flight was abandoned, its calls are settled
                reason, self.exit_code = f"stopped at once ({now}); run again to resume", now.exit_code
                self.archive.ledger.settle_interrupted()
            self.archive.log_event("campaign_stopped", data={"reason": reason, "exit_code": self.exit_code})
            return reason

    def _grow(self) -> str:
        prepare_sandboxes(self.backend, {self.config.sandbox.image}, say=log.info)  # a killed run's containers go now
        seed = self._ensure_seed()
        pending = [n.id for n in self.archive.nodes() if n.status in PENDING and n.kind in ("agent", "meta_prompt")]
        self._advance_all(list(dict.fromkeys([seed, *pending])))  # the seed may be pending too: once only
        if self.config.mode == "async":
            return self._grow_async()
        while True:
            check_limits(self.config, self.archive, self.started, self.stop_requested)
            if self.judge is not None:
                self._between_generations(self.judge)
            generation = self.archive.event_count("generation")
            if generation >= self.config.generations:
                return f"done: {generation} generations"
            rows = self._view()
            rng = random.Random(f"{self.config.seed}:select:{generation}")
            plan = self.config.operators.draw(
                self.config.children_per_generation, random.Random(f"{self.config.seed}:operators:{generation}")
            )
            agent_operators = [name for name in plan if name != "hyper_mutation"]
            selector = SELECTORS["newest" if self.config.baseline == "no_darwin" else self.config.selector]
            parents = selector(rows, len(agent_operators), rng) if agent_operators else []
            if agent_operators and not parents:
                return "no agent can be expanded (none finished its evaluation)"
            chooser = meta_prompts.chooser(self.archive, self.config.meta_prompts.exploration, rng)
            with self.archive.transaction():  # the generation and its proposals are durable together
                meta = {"generation": generation}
                children = [
                    proposals.agent(self.archive, self.evaluator, name, parent, chooser, meta)
                    for name, parent in zip(agent_operators, parents, strict=True)
                ]
                children += [
                    proposals.meta_prompt(self.archive, self.config.operators, chooser, rng, meta)
                    for name in plan
                    if name == "hyper_mutation"
                ]
                data = {"generation": generation, "parents": parents, "children": children}
                self.archive.log_event("generation", data=data)
            self.on_change()
            self._advance_all(children)

    def _grow_async(self) -> str:
        """HGM: each free worker either expands a node or evaluates a node on one more task of the pool."""
        rng = random.Random(f"{self.config.seed}:async:{self.archive.last_event_id()}")
        running: dict[Future[None], tuple[str, str, str | None]] = {}
        workers = self._workers()
        try:
            while True:
                try:
                    check_limits(self.config, self.archive, self.started, self.stop_requested)
                    stop = None
                except Stopped as stopped:
                    stop = str(stopped)
                while stop is None and len(running) < self.config.workers:
                    action = self._next_action(rng, list(running.values()))
                    if action is None:
                        break
                    kind, _, task = action
                    work = self._advance if kind == "expand" else partial(self._evaluate_one, task_id=task)
                    running[self._start(workers, work, action)] = action
                if not running:
                    return (
                        stop or "done: no agent can be expanded and every agent was evaluated on every task of the pool"
                    )
                finished = self._first_done(running)
                for future in finished:
                    running.pop(future)
                    failure = future.exception()
                    if isinstance(failure, BudgetExceeded):
                        raise Stopped(f"budget: {failure}")
                    if failure is not None:
                        raise failure
        finally:
            workers.shutdown()  # lets the work in flight finish, as a graceful stop should

    def _next_action(
        self, rng: random.Random, busy: list[tuple[str, str, str | None]]
    ) -> tuple[str, str, str | None] | None:
        """HGM's choice: expand while evaluations are plentiful relative to nodes, else evaluate one task."""
        rows = self.archive.summaries(evaluator=self.evaluator.key)
        agents = [row for row in rows if row.kind == "agent"]
        rules = self.config.hgm
        counted = [row for row in agents if rules.count_seed_evaluations or row.operator != "seed"]
        evaluations = sum(row.passes + row.fails for row in counted)
        expanding = sum(1 for kind, _, _ in busy if kind == "expand")
        ready = [row for row in agents if row.status == "evaluated"]
        children = len(ready) - 1 + expanding
        first = rules.first_expansions(self.config.workers, self.config.hgm_alpha)
        budget = self.config.budget.task_evaluations
        uncounted = sum(row.passes + row.fails for row in agents) - evaluations  # the seed's, when HGM skips them
        sharpen = rules.sharpness(evaluations, None if budget is None else budget - uncounted)
        if children < first or evaluations**self.config.hgm_alpha >= children:
            expansion = self._expand(rows, rng, {"evaluations": evaluations, "tau": sharpen})
            if expansion is not None:
                return expansion
        taken = {(node, task) for kind, node, task in busy if kind == "evaluate"}
        due = {
            row.id: [t for t, _ in self._pool_missing(row.id) if (row.id, t) not in taken]
            for row in ready
            if row.stage == POOL_STAGE
        }
        due = {node: tasks for node, tasks in due.items() if tasks}
        if not due:
            return None
        by_id = {row.id: row for row in ready}
        draws = {
            node: rng.betavariate(sharpen * (1 + by_id[node].passes), sharpen * (1 + by_id[node].fails)) for node in due
        }
        node = max(draws, key=lambda candidate: draws[candidate])
        level = rules.eval_random_level
        random_task = level >= 1 or rng.random() < level  # at level 1 no extra draw: older campaigns resume alike
        return ("evaluate", node, rng.choice(sorted(due[node])) if random_task else due[node][0])

    def _expand(
        self, rows: list[NodeSummary], rng: random.Random, schedule: dict[str, float]
    ) -> tuple[str, str, str | None] | None:
        """Propose one child (or a meta-prompt); None when no agent may be expanded yet (nothing is created, and
        no operator is drawn, so waiting for a first evaluation does not use up the operators' draws). `schedule`
        (the counted evaluations and the cool-down's tau the choice was made with) goes into the `expand` event,
        as HGM's metadata keeps n_task_evals, so a run can be checked against its rules."""
        pool = expandable(rows, self.config.hgm.expand_from)
        if not pool:
            return None
        (operator,) = self.config.operators.draw(1, rng)
        chooser = meta_prompts.chooser(self.archive, self.config.meta_prompts.exploration, rng)
        if operator == "hyper_mutation":
            child = proposals.meta_prompt(self.archive, self.config.operators, chooser, rng, {"mode": "async"})
            self.archive.log_event("expand", child, {"operator": operator} | schedule)
            return ("expand", child, None)
        select = SELECTORS[self.config.selector]
        if self.config.selector == "hgm":
            select = partial(hgm_select, sharpen=schedule["tau"])
        parents = select(pool, 1, rng)
        if not parents:
            return None
        child = proposals.agent(self.archive, self.evaluator, operator, parents[0], chooser, {"mode": "async"})
        self.archive.log_event("expand", child, {"parent": parents[0], "operator": operator} | schedule)
        return ("expand", child, None)

    # -- the seams where agents meet models and sandboxes (`opendgm simulate` replaces these) ---------
    @contextmanager
    def _evaluations(self, workers: int) -> Iterator[Executor]:
        """Where a node's tasks run: the campaign's cluster, or a pool of `workers` threads for this evaluation."""
        if self.cluster is not None:
            yield self.cluster
            return
        executor = LocalExecutor(workers)
        try:
            yield executor
        finally:
            executor.shutdown()

    def _workers(self) -> LocalExecutor:
        """async: the pool of workers that expand and evaluate."""
        return LocalExecutor(self.config.workers)

    def _start(
        self, workers: LocalExecutor, work: Callable[[str], None], action: tuple[str, str, str | None]
    ) -> Future[None]:
        """async: start one action (expand a node, or evaluate it on one task) on a free worker."""
        return workers.submit(work, action[1])

    def _first_done(self, running: dict[Future[None], tuple[str, str, str | None]]) -> set[Future[None]]:
        """async: wait until at least one action in flight is done."""
        return wait(running, return_when=FIRST_COMPLETED)[0]

    def _evaluate_stage(self, node_id: str, tasks: list[Task], name: str, executor: Executor) -> Score:
        """Run the node's agent on the stage's tasks that have no result yet (sandboxes, models); its score."""
        return evaluate_stage(self.archive, node_id, self.evaluator, tasks, name, self._context(executor))

    def _evaluate_tasks(self, node_id: str, tasks: list[Task], executor: Executor) -> list[TaskOutcome]:
        """Run the node's agent on `tasks` and record each outcome (verdicts stored, infrastructure events logged)."""
        return evaluate_tasks(self.archive, node_id, self.evaluator, tasks, self._context(executor))

    def _context(self, executor: Executor) -> EvaluationContext:
        """How the campaign's evaluations run: its gateway, backend, sandbox memory and judge, on `executor`."""
        return EvaluationContext(
            executor, self.gateway, self.backend, self.config.sandbox.memory_mb,
            self.judge.judge if self.judge else None, lambda _task, _outcome: self.on_change(),
        )  # fmt: skip

    def _pool_missing(self, node_id: str) -> list[tuple[str, int]]:
        missing = self.archive.missing_tasks(node_id, *self.evaluator.key, POOL_STAGE)
        exhausted = infra_retries.exhausted(self.archive, node_id) if missing else set()
        return [(task, attempt) for task, attempt in missing if task not in exhausted]

    def _enter_pool(self, node_id: str) -> None:
        """async: the node joins the evaluation pool (every task of every stage), to be sampled task by task."""
        ids = list(dict.fromkeys(task.id for tasks in self.stage_tasks for task in tasks))
        self.archive.record_stage(node_id, *self.evaluator.key, POOL_STAGE, ids)

    def _evaluate_one(self, node_id: str, task_id: str | None) -> None:
        task = next(task for tasks in self.stage_tasks for task in tasks if task.id == task_id)
        with self._evaluations(1) as executor:
            outcomes = self._evaluate_tasks(node_id, [task], executor)
        if any(outcome.infrastructure_failure for outcome in outcomes):
            self._stop_for_tasks(node_id, f"task {task_id} of {node_id} could not be run")

    def _advance_all(self, node_ids: list[str]) -> None:
        """Run the nodes' pipelines in parallel; a budget stop in any of them stops the campaign."""
        pipelines = LocalExecutor(max(1, self.config.children_per_generation))
        try:
            failures = [outcome for _, outcome in pipelines.map_unordered(self._advance, node_ids)]
        finally:
            pipelines.shutdown()
        for failure in failures:
            if isinstance(failure, BudgetExceeded):
                raise Stopped(f"budget: {failure}")
            if isinstance(failure, BaseException):
                raise failure

    # -- one node ------------------------------------------------------------------------------
    def _advance(self, node_id: str) -> None:
        """Take a node from its current durable state to a final one (or to where a stop finds it)."""
        with self._lock:
            self.running += 1
        try:
            while not self.stop_requested.is_set():
                node = self.archive.node(node_id)
                step = self._steps(node).get(node.status)
                if step is None:
                    return
                try:
                    step(node_id)
                except Rejected as rejected:
                    with self.archive.transaction():
                        self.archive.update_meta(node_id, {"rejected_by": rejected.rule})
                        self.archive.set_status(node_id, "rejected", str(rejected))
                except InfrastructureFailure as failure:  # not the child's fault: it stays resumable
                    self._infrastructure_stop(node_id, failure.event)
                except SandboxError as error:
                    event = from_sandbox_error(error)
                    if event is None:
                        raise
                    self._infrastructure_stop(node_id, event)
                except LLMError as error:
                    event = from_llm_error(error)
                    if event is None:  # the request itself was at fault: a verdict on the operator's product
                        self.archive.set_status(node_id, "failed", f"model error: {error}")
                    elif isinstance(error, BudgetExceeded):
                        raise
                    else:
                        self._infrastructure_stop(node_id, event)
                self.on_change()
        finally:
            with self._lock:
                self.running -= 1

    def _infrastructure_stop(self, node_id: str, event: InfraEvent) -> None:
        """The work on `node_id` failed for an infrastructure reason: recorded as an event, the node stays where it
        was (no status, no verdict, no credit or blame for its meta-prompt), and the campaign stops to be resumed
        (a spent budget is a limit's stop)."""
        self.archive.log_event("infrastructure_failure", node_id, {"kind": event.kind, "detail": event.detail})
        if event.kind == "budget":
            raise Stopped(f"budget: {event.detail}")
        raise InfraStopped(f"infrastructure failure while working on {node_id} ({event}); resume to retry")

    def _steps(self, node: Node) -> dict[str, Callable[[str], object]]:
        """The durable pipeline of a node: its operator decides the first step."""
        if node.kind == "meta_prompt":
            return {"proposed": self._hyper_mutate}
        return {
            "proposed": self._rewrite_slot if node.operator == "pe2" else self._diagnose,
            "modifying": self._modify,
            "built": lambda node: self.archive.set_status(node, "validating"),
            "validating": self._validate,
            "evaluating": self._evaluate,
        }

    def _diagnose(self, node_id: str) -> None:
        node = self.archive.node(node_id)
        parent = str(node.parent_id)
        results = self.archive.results(parent, *self.evaluator.key)
        if not results:  # HGM may expand a node before any of its pool tasks was graded
            raise Rejected(f"the parent {parent} has no graded task to learn from yet", rule="no_results")
        settings = self.config.self_improve
        rng = random.Random(f"{self.config.seed}:entry:{node_id}")
        overflowed = entries.context_overflowed(self.archive.artifacts.read_text)
        entry = entries.choose(settings.entry_rule, results, rng, settings.entry_chances, overflowed)
        content = self.archive.node(self._entry_meta_prompt(node, entry.kind, rng)).content
        statement = self_improve.diagnose(
            self.archive, self.router, node_id, parent, str(content), self.evaluator, entry, settings.diagnosis_chars
        )
        with self.archive.transaction():
            self.archive.update_meta(node_id, {"problem_statement": statement, "entry": entry.record()})
            self.archive.set_status(node_id, "modifying")

    def _entry_meta_prompt(self, node: Node, kind: str, rng: random.Random) -> str:
        """The diagnosis meta-prompt for the entry: the one chosen at proposal for a task; for a special entry,
        one of its role chosen now by UCB1. The child's `produced_by` edges name the meta-prompts it was made
        with: the special one replaces the plain diagnosis chosen at proposal (which is not used)."""
        role = meta_prompts.entry_role(kind)
        chosen_at_proposal = dict(node.meta.get("meta_prompts", {}))
        chosen = chosen_at_proposal.get(role)
        if chosen is None and role == "diagnosis":
            return meta_prompts.usable(self.archive)[role][0]
        if chosen is None:
            meta_prompts.ensure_seeds(self.archive, [role])
            chosen = meta_prompts.chooser(self.archive, self.config.meta_prompts.exploration, rng).choose(role)
            unused = chosen_at_proposal.pop("diagnosis", None)
            with self.archive.transaction():  # with the entry's record: a resume finds the role chosen
                self.archive.update_meta(node.id, {"meta_prompts": {**chosen_at_proposal, role: chosen}})
                if unused is not None:
                    self.archive.remove_edge(node.id, unused, "produced_by")
                self.archive.add_edge(node.id, chosen, "produced_by")
        return str(chosen)

    def _modify(self, node_id: str) -> None:
        node = self.archive.node(node_id)
        settings, statement = self.config.self_improve, str(node.meta["problem_statement"])
        task = self_improve.modification_task(
            node.id, statement, meta_prompts.text_for(self.archive, node, "self_improve"), self.config.sandbox.image,
            settings.timeout_s,
        )  # fmt: skip
        runner = self._ensure_seed() if self.config.baseline == "no_selfimprove" else None
        change = self_modification.Modification(
            str(node.parent_id), node_id, task, settings.max_steps, settings.role, runner
        )
        if self.cluster is not None:  # a unit on a cluster node; the child's tree comes back to the head's archive
            child = self.cluster.modify(
                self.archive, change.parent_id, node_id, task, runner, self.router, change.max_steps, change.role
            )
        else:
            with reachable_scratch(prefix="opendgm-child-") as scratch:
                memory_mb = self.config.sandbox.memory_mb
                child = self_modification.modify(self.archive, change, self.gateway, self.backend, scratch, memory_mb)
        self.archive.attach_tree(node_id, child, message=statement[:200])

    def _rewrite_slot(self, node_id: str) -> None:
        """PE2 on one of the parent's prompt files: the child is the parent with that file rewritten."""
        node = self.archive.node(node_id)
        rng = random.Random(f"{self.config.seed}:pe2:{node_id}")
        complete = completer(self.router, "meta", node_id, "pe2")
        meta_prompt = meta_prompts.text_for(self.archive, node, "pe2")
        rewrite = prompt_slots.rewrite_slot(
            self.archive, complete, str(node.parent_id), meta_prompt, self.evaluator, self.config.pe2.slots,
            self.config.pe2.settings(), rng,
        )  # fmt: skip
        statement = f"PE2 rewrite of {rewrite.slot} from failed tasks {', '.join(rewrite.batch)}"
        changes = {"slot": rewrite.slot, "batch": rewrite.batch, "reasoning": rewrite.reasoning}
        self.archive.update_meta(node_id, changes | {"problem_statement": statement})
        self.archive.attach_tree(node_id, rewrite.tree, message=statement)

    def _hyper_mutate(self, node_id: str) -> None:
        """PromptBreeder's hyper-mutation: the meta model rewrites the parent meta-prompt."""
        node = self.archive.node(node_id)
        parent = self.archive.node(str(node.parent_id))
        role, text = str(node.meta["role"]), str(parent.content)
        record = credit.fitness_of(self.archive, parent.id)
        complete = completer(self.router, "meta", node_id, "hyper_mutation")
        rewrite, problem = meta_prompts.hyper_mutate(complete, role, text, record)
        if problem:
            raise Rejected(problem, rule="hyper_mutation")
        self.archive.attach_content(node_id, rewrite)

    def _validate(self, node_id: str) -> None:
        if self.cluster is not None:
            self.cluster.validate(self.archive, node_id, self.config.self_improve.self_test)
            self.archive.set_status(node_id, "evaluating")
            return
        with reachable_scratch() as scratch:
            code = self.archive.materialize(node_id, scratch / "agent")
            settings = self.config.self_improve
            self_modification.validate(
                code, self.backend, self.config.sandbox.image, self.archive.campaign, settings.self_test,
                self.config.sandbox.memory_mb,
            )  # fmt: skip
        self.archive.set_status(node_id, "evaluating")

    def _evaluate(self, node_id: str) -> None:
        if self.config.mode == "async" and self.archive.node(node_id).operator != "seed":
            self._enter_pool(node_id)  # HGM evaluates children one sampled task at a time
            self.archive.set_status(node_id, "evaluated")
            return
        with self._evaluations(self.config.workers) as executor:
            staged = zip(self.config.stages, self.stage_names, self.stage_tasks, strict=True)
            for index, (stage, name, tasks) in enumerate(staged):
                score = self._evaluate_stage(node_id, tasks, name, executor)
                if not score.complete or not score.n_tasks:  # infrastructure failures: not judged on half a stage
                    self._require_complete(node_id, name)
                seed = self.archive.node(node_id).operator == "seed"
                if index == 0 and not seed:
                    self._require_a_change(node_id, tasks)
                if not (seed and self.config.scoring.seed_every_stage) and not self._goes_on(node_id, stage):
                    break
        self._keep_or_reject(node_id)
        if self.config.mode == "async":
            self._enter_pool(node_id)
        self.archive.set_status(node_id, "evaluated")

    def _view(self) -> list[NodeSummary]:
        """The archive's summaries with scores and child counts as the `scoring` block defines them."""
        rows = self.archive.summaries(evaluator=self.evaluator.key)
        scores = self.archive.scores_by_node() if self.config.scoring.score == "cumulative" else {}
        return scoring.rows(rows, scores, self.config.scoring, self.evaluator.key)

    def _goes_on(self, node_id: str, stage: StageConfig) -> bool:
        """Whether a node that completed `stage` enters the next one: its score reaches the threshold and, where
        the stage says so, it ranks among the archive's `top` (DGM's third stage: top two)."""
        view = self._view()
        score = next(row.score for row in view if row.id == node_id) or 0.0
        return score >= stage.threshold and (stage.top is None or scoring.in_top(node_id, view, stage.top))

    def _keep_or_reject(self, node_id: str) -> None:
        """DGM's `keep_better`: a child scoring below the seed's score minus the margin leaves the archive."""
        if self.config.archive_rule != "keep_better" or self.archive.node(node_id).operator == "seed":
            return
        problem = scoring.below_seed(self._view(), node_id, self._ensure_seed(), self.config.keep_better_margin)
        if problem:
            raise Rejected(f"keep_better: {problem}", rule="keep_better")

    def _require_complete(self, node_id: str, stage: str) -> None:
        """Stop (to be resumed) while a task of the stage lacks a result for an infrastructure reason, unless every
        such task is `infra_exhausted` and some task has a verdict: then the stage is judged on those. A stage with
        no verdict at all is a persistent infrastructure failure: the campaign stops until `--retry-infra`."""
        missing = {task for task, _ in self.archive.missing_tasks(node_id, *self.evaluator.key, stage)}
        exhausted = infra_retries.exhausted(self.archive, node_id)
        if missing <= exhausted and any(s.n_done for s in self.archive.scores(node_id) if s.stage == stage):
            return
        if missing <= exhausted:
            raise InfraStopped(
                f"every task of stage {stage} of {node_id} failed {MAX_INFRA_FAILURES} times for infrastructure "
                "reasons; fix the cause and run again with --retry-infra"
            )
        self._stop_for_tasks(node_id, f"stage {stage} of {node_id} could not be completed")

    def _stop_for_tasks(self, node_id: str, what: str) -> None:
        """Raise the stop for the node's latest infrastructure failure of a task (a budget's is a limit's)."""
        failures = [e.data for e in self.archive.events(node_id=node_id) if e.kind == INFRA_EVENT]
        last = failures[-1] if failures else {}
        why = f"{last.get('kind', 'infrastructure')}: {last.get('detail', '')}"
        if last.get("kind") == "budget":  # the gateway's or a judge's budget stop
            raise Stopped(f"budget: {why}")
        raise InfraStopped(f"{what} ({why}); resume to retry")

    def _between_generations(self, judge: RubricJudge) -> None:
        """MPO's step on the judge's rubric, and re-judging under a new one, before the next selection."""
        stages = dict(zip(self.stage_names, self.stage_tasks, strict=True))
        try:
            judge.between_generations(stages, self.backend, self.config.workers)
        except BudgetExceeded as spent:
            raise Stopped(f"budget: {spent}") from spent
        except (LLMError, InfrastructureFailure) as error:
            raise InfraStopped(f"the judge or meta-reward model could not answer ({error}); resume to retry") from error
        finally:
            self.evaluator = judge.evaluator  # under the rubric MPO adopted, if it adopted one
        self.on_change()

    def _require_a_change(self, node_id: str, tasks: list[Task]) -> None:
        """DGM's compiled-child check: a child that changes nothing on any first-stage task is not kept (checked
        once: an agent evaluated again after an accepted config change was kept already)."""
        if self.archive.node(node_id).meta.get("evaluated_again"):
            return
        ids = {task.id for task in tasks}
        results = self.archive.results(node_id, *self.evaluator.key)
        if not any(r.patch_path for r in results if r.task_id in ids):
            raise Rejected("the child produced no change on any first-stage task", rule="no_change")

    # -- set-up --------------------------------------------------------------------------------
    def _ensure_seed(self) -> str:
        roots = [n for n in self.archive.nodes(kind="agent") if n.parent_id is None]
        if roots:
            return roots[0].id
        source = agent_source(self.config.seed_agent)
        node = self.archive.add_agent(source, operator="seed", message=f"seed agent ({self.config.seed_agent})")
        self.archive.set_status(node.id, "evaluating")
        return node.id


@contextmanager
def open_campaign(
    config: CampaignConfig | Setup,
    root: Path,
    on_change: Callable[[], None] = lambda: None,
    *,
    accept_config_change: bool = False,
    retry_infra: bool = False,
) -> Iterator[Campaign]:
    """The campaign of `config` in the directory `root` (created, or opened to resume), with its archive, models
    and cluster open until the block ends. `accept_config_change`: see `opening.open_archive`."""
    setup = config if isinstance(config, Setup) else Setup.of(config)
    settings = setup.config
    with ExitStack() as stack:
        archive = stack.enter_context(opening.open_archive(setup, Path(root), accept_config_change))
        stack.enter_context(tracking.follow(settings, archive))  # reports from the event log, if asked
        session = stack.enter_context(open_session(archive, settings.llm, settings.local_server))
        cluster = _cluster(settings, stack)
        meta_prompts.ensure_seeds(archive, meta_prompts.AGENT_ROLES)
        judge = None
        if setup.evaluator.needs_judge:  # its rubric lineage, opened before anything is graded, resumed
            judge = RubricJudge(archive, setup.evaluator, session.router, settings.judging(), settings.seed)
        yield Campaign(setup, session, cluster=cluster, judge=judge, on_change=on_change, retry_infra=retry_infra)


def run_campaign(
    config: CampaignConfig | Setup, root: Path, *, accept_config_change: bool = False, retry_infra: bool = False
) -> str:
    """Open the campaign of `config` in `root`, run it until it stops, close it; why it stopped."""
    with open_campaign(config, root, accept_config_change=accept_config_change, retry_infra=retry_infra) as campaign:
        return campaign.run()


def _cluster(config: CampaignConfig, stack: ExitStack) -> ClusterRuns | None:
    """The cluster that runs evaluations, self-modifications and validations (None: this machine does)."""
    if config.executor.kind == "local":
        return None
    sandbox = config.sandbox
    runs = cluster_runs(config.executor, config.evaluator.options, sandbox.backend, sandbox.image, sandbox.memory_mb)
    stack.callback(runs.shutdown)
    return runs
