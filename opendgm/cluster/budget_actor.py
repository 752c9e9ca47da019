"""One budget for a campaign's every node: a Ray actor that reserves before a call is sent and settles after.

Per-node budgets let ten nodes spend ten times the limit between them. Here the Router on each Ray node reserves
every call at the campaign's one `GlobalBudget` actor (started by the campaign process on its own node, so it lives
and dies with it), writes the call's `pending` ledger row on its own node, sends, writes the final row, and
settles. The actor counts what is settled plus what is held, exactly as `opendgm.llm.budget.Budget` does in one
process (it is one), starting from the archive's spend when the campaign resumes. A node that dies mid-call never
settles: its hold stays counted at the estimate, the conservative side. If the actor cannot be reached, a call
is not sent (`TransientLLMError`: infrastructure, never a verdict on the agent).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from opendgm.llm import (
    Budget,
    BudgetExceeded,
    BudgetLimits,
    CallRecord,
    Reservation,
    Totals,
    TransientLLMError,
    total_of,
)

log = logging.getLogger(__name__)
UNSETTLED = "the node sending the call stopped before settling it; its spend is the conservative estimate"


class Tally:
    """A ledger of totals alone, per node (`opendgm.llm.ledger.Ledger`): what the actor has seen settled, on top
    of what the archive had spent before (no rows are kept: a long campaign's calls would pile up in the actor)."""

    def __init__(self, campaign: str, spent_by_node: Mapping[str | None, Totals]) -> None:
        self._campaign = campaign
        self._by_node: dict[str | None, Totals] = dict(spent_by_node)

    def record(self, call: CallRecord) -> None:
        self._by_node[call.node] = self._by_node.get(call.node, Totals()) + total_of([call])

    def totals(self, campaign: str | None = None, node: str | None = None) -> Totals:
        if campaign not in (None, self._campaign):
            return Totals()
        if node is not None:
            return self._by_node.get(node, Totals())
        return sum(self._by_node.values(), Totals())


class GlobalBudget(Budget):
    """The body of the budget actor: a `Budget` over a `Tally`, settled with the final rows the nodes send."""

    def __init__(self, limits: BudgetLimits, campaign: str, spent_by_node: Mapping[str | None, Totals]) -> None:
        super().__init__(limits, Tally(campaign, spent_by_node), campaign)

    def try_reserve(self, node: str | None, usd: float, tokens: int) -> Reservation | str:
        """`reserve`, with a refusal returned as its message (an exception would reach the node wrapped by Ray)."""
        try:
            return self.reserve(node, usd, tokens)
        except BudgetExceeded as refused:
            return refused.message

    def settle(self, reservation: Reservation, call: CallRecord | None) -> None:
        with self._lock:
            if self._holds.pop(reservation.id, None) is None:
                return  # settled already (a message sent twice), or never held here
            self._ledger.record(call or _unsettled(reservation, self._campaign))


class ClusterBudget:
    """`opendgm.llm.budget.Reservations` through the budget actor; picklable, so a work unit can carry it to the
    Router of any node."""

    def __init__(self, actor: Any, limits: BudgetLimits, timeout_s: float = 30.0) -> None:
        self.actor = actor
        self.limits = limits
        self.timeout_s = timeout_s

    def reserve(self, node: str | None, usd: float, tokens: int, where: str = "") -> Reservation:
        try:
            answer = ray.get(self.actor.try_reserve.remote(node, usd, tokens), timeout=self.timeout_s)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as exc:
            raise TransientLLMError(f"the campaign's budget cannot be reached, the call is not sent: {exc}") from exc
        if isinstance(answer, str):
            raise BudgetExceeded(answer, where=where)
        return answer

    def settle(self, reservation: Reservation, call: CallRecord | None) -> None:
        """Never raises: the call is over either way, and an unsettled hold keeps its estimate spent."""
        try:
            ray.get(self.actor.settle.remote(reservation, call), timeout=self.timeout_s)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as exc:
            log.warning("could not settle a model call with the campaign's budget (its estimate stays spent): %s", exc)


def start_budget(
    limits: BudgetLimits, campaign: str, spent_by_node: Mapping[str | None, Totals], timeout_s: float = 30.0
) -> ClusterBudget:
    """Start the campaign's budget actor on this process's Ray node, owned by this process (so a resumed campaign
    starts a fresh one from the archive's spend); `spent_by_node`: e.g. `ArchiveLedger.totals_by("node", ...)`."""
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    actor_class = ray.remote(num_cpus=0, max_restarts=0, scheduling_strategy=here)(GlobalBudget)
    return ClusterBudget(actor_class.remote(limits, campaign, dict(spent_by_node)), limits, timeout_s)


def _unsettled(reservation: Reservation, campaign: str) -> CallRecord:
    return CallRecord(
        campaign=campaign,
        node=reservation.node,
        role="?",
        purpose="?",
        model="?",
        outcome="interrupted",
        prompt_tokens=reservation.tokens,
        cost_usd=reservation.usd,
        error=UNSETTLED,
        id=reservation.id,
    )
