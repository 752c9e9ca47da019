"""The Executor protocol on Ray: each (work, item) pair is one Ray task, run on whichever node has room.

`work` and `item` travel by pickle, so they must be self-contained (the units of `opendgm.cluster.units`,
never closures over a campaign). Nothing of the head's environment travels: the `runtime_env` names only the
start-up hook (`node_start`), so a worker sees only its own node's environment (API keys included, see README
"Running on a cluster").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import ray
from ray.exceptions import RayError, RayTaskError

from opendgm.cluster.config import ExecutorConfig
from opendgm.cluster.factory import ClusterProblem
from opendgm.cluster.node_start import runtime_env
from opendgm.outcomes import InfraEvent, InfrastructureFailure

Item = TypeVar("Item")
Result = TypeVar("Result")

log = logging.getLogger(__name__)


def _run(work: Callable[[Any], Any], item: Any) -> Any:
    """On a worker: one unit."""
    return work(item)


class RayExecutor:
    """Connects to the cluster at `config.address` (or uses the connection this process already has)."""

    remote = True

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        self.config = config or ExecutorConfig(kind="ray")
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            address = None if self.config.address == "local" else self.config.address
            try:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, runtime_env=runtime_env())
            except (ConnectionError, RuntimeError, ValueError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ClusterProblem(f"cannot reach the Ray cluster at {self.config.address}: {first}") from None
        self._remote = ray.remote(_run).options(
            max_retries=self.config.max_retries,
            retry_exceptions=False,  # a unit's own failure is a result; only a lost worker or node is retried
            num_cpus=self.config.num_cpus,
            resources=self.config.resources or None,
        )

    def put(self, value: object) -> ray.ObjectRef:
        """Put a value in the cluster's object store once (an agent's code pack), for units to reference."""
        return ray.put(value)

    def send(self, work: Callable[[Item], Result], item: Item) -> ray.ObjectRef:
        """Submit one unit (the single path out of the head: tests scan what goes through it)."""
        return self._remote.remote(work, item)

    def receive(self, ref: ray.ObjectRef) -> Any:
        """One unit's result, or its own exception (not Ray's wrapper) raised; a unit the cluster lost for good (its
        node died on every retry) is an infrastructure failure, never a verdict on the agent."""
        try:
            return ray.get(ref)
        except RayTaskError as error:
            cause = error.cause if isinstance(error.cause, BaseException) else None
            raise (cause or error) from None
        except RayError as error:
            detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise InfrastructureFailure(InfraEvent("host", f"the cluster lost the unit: {detail}")) from None

    def submit(self, work: Callable[[Item], Result], item: Item) -> Future[Result]:
        future: Future[Result] = Future()
        ref = self.send(work, item)

        def settle(_: object) -> None:
            try:
                future.set_result(self.receive(ref))
            except BaseException as error:  # the unit's failure belongs to whoever waits on it
                future.set_exception(error)

        ref.future().add_done_callback(settle)
        return future

    def map_unordered(
        self, work: Callable[[Item], Result], items: Iterable[Item]
    ) -> Iterator[tuple[Item, Result | BaseException]]:
        pending: dict[ray.ObjectRef, Item] = {self.send(work, item): item for item in items}
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                item = pending.pop(ref)
                try:
                    yield item, self.receive(ref)
                except Exception as error:
                    yield item, error
        finally:
            for ref in pending:
                ray.cancel(ref)

    def nodes(self) -> int:
        """Live nodes of the cluster (for the start-up line)."""
        return sum(1 for node in ray.nodes() if node.get("Alive"))

    def shutdown(self) -> None:
        """Disconnect if this executor connected; a cluster stays up (it belongs to whoever started it)."""
        if self._owns_connection and ray.is_initialized():
            ray.shutdown()
            self._owns_connection = False
