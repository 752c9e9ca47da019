"""The head's side of a cluster run: make units, submit them, and record what comes back.

The head is the archive's only writer: a node's product (a task outcome, a self-modification's tree, the ledger
rows of its model calls) is recorded here, under the attempt number the head gave the unit before submitting it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from opendgm.archive import Archive, EvaluatorKey, GitStore
from opendgm.cluster import worker
from opendgm.cluster.budget_actor import ClusterBudget, start_budget
from opendgm.cluster.executor import RayExecutor
from opendgm.cluster.progress import UNIT_EVENT
from opendgm.cluster.units import (
    CodeRef,
    EvaluatorRef,
    Models,
    ModifyUnit,
    Report,
    Sandboxing,
    TaskUnit,
    ValidateUnit,
)
from opendgm.evaluators import IN_FLIGHT, Task, TaskOutcome, infrastructure, self_modification
from opendgm.llm import BudgetLimits, Router
from opendgm.outcomes import InfraEvent, InfrastructureFailure

Item = TypeVar("Item")
Result = TypeVar("Result")


class ClusterRuns:
    """Runs a campaign's sandbox work on the cluster behind `executor`; an Executor itself (by delegation)."""

    remote = True

    def __init__(self, executor: RayExecutor, evaluator_options: dict[str, Any], sandbox: Sandboxing) -> None:
        self.executor = executor
        self.evaluator_options = evaluator_options
        self.sandbox = sandbox
        self._packs: dict[str, Any] = {}  # code hash -> the Ray object of its pack
        self._budget: ClusterBudget | None = None
        self._lock = threading.Lock()

    # -- the Executor protocol ------------------------------------------------------------------
    def submit(self, work: Callable[[Item], Result], item: Item) -> Future[Result]:
        return self.executor.submit(work, item)

    def map_unordered(
        self, work: Callable[[Item], Result], items: Iterable[Item]
    ) -> Iterator[tuple[Item, Result | BaseException]]:
        return self.executor.map_unordered(work, items)

    def shutdown(self) -> None:
        self.executor.shutdown()

    # -- units ------------------------------------------------------------------------------------
    def code(self, archive: Archive, node_id: str) -> CodeRef:
        """The node's code by hash; its pack is put in Ray's object store once per code hash."""
        tree = archive.node(node_id).code_hash
        if tree is None:
            raise ValueError(f"node {node_id} has no code to send")
        with self._lock:
            if tree not in self._packs:
                self._packs[tree] = self.executor.put(archive.code(node_id).store.pack_tree(tree))
            return CodeRef(tree, self._packs[tree])

    def budget(self, router: Router, archive: Archive) -> ClusterBudget:
        """The campaign's one budget on the cluster, started at the first unit from the archive's spend so far; the
        head's own calls (diagnosis, judges) reserve there too from then on, so nodes and head share the limits."""
        with self._lock:
            if self._budget is None:
                spent = archive.ledger.totals_by("node", archive.campaign)
                self._budget = start_budget(router.budget.limits, archive.campaign, spent)
                router.budget = self._budget
            return self._budget

    def models(self, router: Router, archive: Archive, node_id: str) -> Models:
        """The roles as settings, the campaign's budget actor, and what was left of the budget (for the record)."""
        budget = self.budget(router, archive)
        limits = router.budget.limits
        spent, mine = archive.ledger.totals(campaign=archive.campaign), archive.ledger.totals(node=node_id)

        def left(limit: float | None, used: float) -> float | None:
            return None if limit is None else max(0.0, limit - used)

        tokens, node_tokens = left(limits.tokens, spent.tokens), left(limits.node_tokens, mine.tokens)
        remaining = BudgetLimits(
            usd=left(limits.usd, spent.cost_usd),
            tokens=None if tokens is None else int(tokens),
            node_usd=left(limits.node_usd, mine.cost_usd),
            node_tokens=None if node_tokens is None else int(node_tokens),
        )
        return Models(roles=dict(router.roles), retry=router.retry, limits=remaining, budget=budget)

    def _settle(self, archive: Archive, node_id: str, what: str, report: Report) -> None:
        """Record the unit's model calls (their ids make a second recording a no-op) and where it ran."""
        for call in report.calls:
            archive.ledger.record(call)
        archive.log_event(
            UNIT_EVENT, node_id, {"unit": what, "where": report.where, "seconds": round(report.seconds, 3)}
        )

    def _one(self, work: Callable[[Any], Report], unit: Any) -> Report:
        return self.executor.receive(self.executor.send(work, unit))

    # -- the three kinds of work --------------------------------------------------------------------
    def run_tasks(
        self, archive: Archive, node_id: str, key: EvaluatorKey, tasks: list[Task], router: Router
    ) -> Iterator[tuple[Task, TaskOutcome, int]]:
        """Each task as a unit with the attempt number the head gives it; (task, outcome, attempt) as each ends."""
        code, models = self.code(archive, node_id), self.models(router, archive, node_id)
        ref = EvaluatorRef(key, self.evaluator_options)
        # The next attempt of (code hash, task): a unit Ray runs again, or a resumed head, records under the same
        # key, which is a no-op the second time.
        recorded = Counter(r.task_id for r in archive.results(node_id, *key))
        by_id = {task.id: task for task in tasks}
        units = [
            TaskUnit(archive.campaign, node_id, code, ref, task.id, recorded[task.id], models, self.sandbox)
            for task in tasks
        ]
        with IN_FLIGHT.many(node_id, [unit.task_id for unit in units]) as finished:
            for unit, report in self.executor.map_unordered(worker.run_task, units):
                finished(unit.task_id)
                task = by_id[unit.task_id]
                if isinstance(report, BaseException):  # the unit's node or the cluster failed it: an event
                    event = report.event if isinstance(report, InfrastructureFailure) else None
                    event = event or InfraEvent("host", f"{type(report).__name__}: {report}")
                    yield task, infrastructure(task.id, event), unit.attempt
                    continue
                self._settle(archive, node_id, f"task {task.id}", report)
                assert report.outcome is not None
                yield task, report.outcome, unit.attempt

    def modify(
        self, archive: Archive, parent_id: str, child_id: str, task: Task, runner_id: str | None, router: Router,
        max_steps: int | None, role: str,
    ) -> str:  # fmt: skip
        """The self-modification on a node; the child's tree, adopted into agents.git under the host's checks."""
        unit = ModifyUnit(
            archive.campaign, child_id, self.code(archive, parent_id), self.code(archive, runner_id or parent_id),
            task, max_steps, role, self.models(router, archive, child_id), self.sandbox,
        )  # fmt: skip
        report = self._one(worker.run_modify, unit)
        self._settle(archive, child_id, "self_improve", report)
        assert report.run is not None
        with GitStore.scratch() as store:
            if report.pack:
                store.unpack(report.pack)
            return self_modification.accept_modification(archive, store, child_id, report.run)

    def validate(self, archive: Archive, node_id: str, self_test: bool) -> None:
        """The child compiles and passes its own tests on a node (raises self_modification.Rejected otherwise)."""
        report = self._one(worker.run_validate, ValidateUnit(archive.campaign, node_id, self.code(archive, node_id),
                                                             self_test, self.sandbox))  # fmt: skip
        self._settle(archive, node_id, "validate", report)
