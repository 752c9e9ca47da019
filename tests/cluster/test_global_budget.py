"""A budget of N tokens is never exceeded by calls spread over the nodes of a real Ray cluster (issue 16).

Each worker node runs its own Router and its own SQLite ledger, as a worker node of a campaign does, and sends
many concurrent calls to a real HTTP model stub on loopback. With per-node budgets alone the nodes spend the limit
once each; with the campaign's budget actor the ledgers' total stays within it, and every request reached the
stub only after its `pending` row was on its node's disk.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.llm_fakes import FakeProvider, Reply, completion

ray = pytest.importorskip("ray")
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

from opendgm.cluster.budget_actor import ClusterBudget, GlobalBudget, start_budget  # noqa: E402
from opendgm.llm import BudgetExceeded, BudgetLimits, Price, RetryPolicy, RoleConfig, Router, SQLiteLedger  # noqa: E402
from opendgm.llm.budget import Reservation, Reservations  # noqa: E402
from opendgm.llm.errors import TransientLLMError  # noqa: E402
from opendgm.llm.ledger import CallRecord, Totals  # noqa: E402
from tests.support.ray_cluster import LocalCluster  # noqa: E402

pytestmark = pytest.mark.ray

NODES = ("node-a", "node-b")
LIMIT = 400  # tokens, for the whole campaign
THREADS = 4  # concurrent calls per node
CAMPAIGN = "c"


@pytest.fixture(scope="module")
def workers(cluster: LocalCluster) -> Iterator[list[str]]:
    """The session's cluster, connected to from this process: the ids of its two worker nodes (not the head)."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the node-side code below is test code
    ray.init(address=cluster.address, logging_level="warning")
    try:
        alive = [n["NodeID"] for n in ray.nodes() if n["Alive"] and "node:__internal_head__" not in n["Resources"]]
        assert len(alive) >= len(NODES)
        yield alive[: len(NODES)]
    finally:
        ray.shutdown()


class Stub(FakeProvider):
    """The model: notes every request that arrived before its call's `pending` row was in its node's ledger."""

    def __init__(self, ledgers: list[Path]) -> None:
        super().__init__()
        self.ledgers = ledgers
        self.unrecorded: list[str] = []
        self.default = Reply(body=completion(prompt_tokens=6, completion_tokens=8), hang_s=0.02)

    def _answer(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        tag = body["messages"][0]["content"]
        if not any(_pending(path, tag) for path in self.ledgers):
            self.unrecorded.append(tag)
        return super()._answer(headers, body)


def _pending(path: Path, purpose: str) -> bool:
    if not path.exists():
        return False
    with sqlite3.connect(path) as db:
        query = "SELECT COUNT(*) FROM llm_calls WHERE purpose = ? AND outcome = 'pending'"
        return db.execute(query, (purpose,)).fetchone()[0] == 1


def spend_on_node(role: RoleConfig, budget: Reservations | None, ledger: Path, name: str) -> int:
    """What a worker node does: its own Router and ledger, `THREADS` sandboxes calling until the budget refuses."""
    router = Router(
        {"agent": role},
        ledger=SQLiteLedger(ledger),
        campaign=CAMPAIGN,
        limits=BudgetLimits(tokens=LIMIT),
        retry=RetryPolicy(attempts=1),
        budget=budget,
    )

    def sandbox(thread: int) -> int:
        for call in range(1000):
            tag = f"{name}-{thread}-{call}"
            try:
                router.complete("agent", [{"role": "user", "content": tag}], purpose=tag)
            except BudgetExceeded:
                return call
        raise AssertionError("the budget never refused a call")

    with ThreadPoolExecutor(THREADS) as pool:
        return sum(pool.map(sandbox, range(THREADS)))


def _spend_everywhere(
    workers: list[str], tmp_path: Path, budget: Reservations | None
) -> tuple[Totals, Stub, list[int]]:
    ledgers = [tmp_path / f"{name}.sqlite" for name in NODES]
    stub = Stub(ledgers)
    try:
        role = RoleConfig(
            model="openai/fake",
            api_base=stub.base_url,
            max_tokens=10,
            price=Price(prompt=1000, completion=1000),
            timeout_s=5,
        )
        task = ray.remote(spend_on_node)
        runs = [
            task.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(
                role, budget, path, name
            )
            for node, name, path in zip(workers, NODES, ledgers, strict=True)
        ]
        sent = ray.get(runs, timeout=120)
    finally:
        stub.stop()
    total = sum((SQLiteLedger(path).totals(CAMPAIGN) for path in ledgers), Totals())
    return total, stub, sent


def test_per_node_budgets_alone_spend_the_limit_once_per_node(workers: list[str], tmp_path: Path) -> None:
    """The attack the budget actor answers: without it, each node keeps within the limit and the campaign
    overspends."""
    total, _stub, sent = _spend_everywhere(workers, tmp_path, budget=None)

    assert all(sent)
    assert total.tokens > LIMIT, f"{total.tokens} tokens spent"


def test_the_budget_actor_keeps_every_node_together_within_the_limit(workers: list[str], tmp_path: Path) -> None:
    budget = start_budget(BudgetLimits(tokens=LIMIT), CAMPAIGN, {})

    total, stub, sent = _spend_everywhere(workers, tmp_path, budget)

    assert all(sent), f"calls per node: {sent}: both nodes must have spent"
    assert total.tokens <= LIMIT
    assert total.tokens > LIMIT / 2  # the limit was spent, not refused from the start
    assert stub.count == total.calls - total.errors == sum(sent)  # the refused calls never left their node
    assert stub.unrecorded == []  # each request left its node after its pending row was written


def test_a_resumed_campaign_starts_from_the_archives_spend(workers: list[str], tmp_path: Path) -> None:
    before = Totals(calls=20, prompt_tokens=LIMIT - 30)
    budget = start_budget(BudgetLimits(tokens=LIMIT), CAMPAIGN, {"n1": before})

    total, _stub, _sent = _spend_everywhere(workers, tmp_path, budget)

    assert total.tokens <= 30


def test_an_unreachable_budget_sends_nothing_and_is_infrastructure(workers: list[str]) -> None:
    budget = start_budget(BudgetLimits(tokens=LIMIT), CAMPAIGN, {})
    ray.kill(budget.actor)
    stranded = ClusterBudget(budget.actor, budget.limits, timeout_s=5)

    with pytest.raises(TransientLLMError, match="cannot be reached") as caught:
        stranded.reserve("n", 0.0, 10)
    assert caught.value.infrastructure


def test_a_settlement_counts_once_and_an_unknown_spend_counts_its_estimate() -> None:
    """The actor's body alone: a settle sent twice (Ray may deliver a retried message) is counted once, and a call
    settled without its final row (its node died after sending) stays spent at its reservation."""
    budget = GlobalBudget(BudgetLimits(tokens=100), CAMPAIGN, {})
    call = CallRecord(CAMPAIGN, "n", "agent", "p", "m", "ok", prompt_tokens=10, completion_tokens=5)

    first = budget.reserve("n", 0.0, 40)
    budget.settle(first, call)
    budget.settle(first, call)
    lost = budget.reserve("n", 0.0, 40)
    budget.settle(lost, None)

    assert isinstance(budget.try_reserve("n", 0.0, 46), str)  # refused: 15 settled + 40 lost + 46 > 100
    assert isinstance(budget.try_reserve("n", 0.0, 45), Reservation)
