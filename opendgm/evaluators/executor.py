"""How evaluations fan out: an executor interface, and a bounded local pool that implements it.

A distributed executor (Ray, `opendgm.cluster`) implements the same methods and, as a `UnitExecutor`, runs
evaluations as self-contained units on its nodes (a closure over the campaign cannot travel).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from opendgm.archive import Archive, EvaluatorKey
    from opendgm.evaluators.runner import TaskOutcome
    from opendgm.evaluators.task import Task
    from opendgm.llm import Router

Item = TypeVar("Item")
Result = TypeVar("Result")


class Executor(Protocol):
    """Runs independent work items: one at a time (`submit`), or many, yielded as each finishes."""

    def submit(self, work: Callable[[Item], Result], item: Item) -> Future[Result]: ...

    def map_unordered(
        self, work: Callable[[Item], Result], items: Iterable[Item]
    ) -> Iterator[tuple[Item, Result | BaseException]]: ...

    def shutdown(self) -> None: ...


@runtime_checkable
class UnitExecutor(Executor, Protocol):
    """An executor whose work runs on other machines: it makes and records the units of an evaluation itself."""

    def run_tasks(
        self, archive: Archive, node_id: str, key: EvaluatorKey, tasks: list[Task], router: Router
    ) -> Iterator[tuple[Task, TaskOutcome, int]]:
        """Run the node's agent on `tasks`; yield (task, outcome, attempt) as each ends (model calls recorded)."""
        ...


class LocalExecutor:
    """A thread pool of `workers` (each worker drives one sandbox at a time, so threads suffice)."""

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="opendgm-eval")

    def submit(self, work: Callable[[Item], Result], item: Item) -> Future[Result]:
        return self._pool.submit(work, item)

    def map_unordered(
        self, work: Callable[[Item], Result], items: Iterable[Item]
    ) -> Iterator[tuple[Item, Result | BaseException]]:
        futures: dict[Future[Result], Item] = {self._pool.submit(work, item): item for item in items}
        try:
            for future in as_completed(futures):
                error = future.exception()
                yield futures[future], (error if error is not None else future.result())
        finally:
            for future in futures:
                future.cancel()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
