"""Spend guardrails: a call that could cross a limit is refused before it is sent (invariant 4: every model call
recorded and budgeted, docs/invariants.md).

Every call is reserved before it is sent and settled after (`Reservations`): the in-process `Budget` below does it
for one host, `opendgm.cluster.budget_actor` for every node of a Ray cluster at once, and the Router uses whichever
it is given through `hold`.

Spend is read from the ledger (so a resumed campaign with a higher limit simply continues), plus the
estimates of calls still in flight (so concurrent sandboxes cannot overshoot together). The estimate is
conservative: the full prompt plus the whole `max_tokens`, at the role's price. Whatever a caller passes, a hold
never counts less than nothing: a negative estimate would make room for other calls under the limit.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from opendgm.llm.errors import BudgetExceeded
from opendgm.llm.ledger import CallRecord, Ledger
from opendgm.llm.roles import BudgetLimits


@dataclass(frozen=True)
class Reservation:
    """The estimated spend of one call, held against the limits from before it is sent until it is settled."""

    node: str | None
    usd: float
    tokens: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


class Reservations(Protocol):
    """Where a call's spend is reserved before it is sent and settled after it, against `limits`."""

    limits: BudgetLimits

    def reserve(self, node: str | None, usd: float, tokens: int, where: str = "") -> Reservation:
        """Hold the estimate against the limits, or raise `BudgetExceeded` (nothing is held then)."""
        ...

    def settle(self, reservation: Reservation, call: CallRecord | None) -> None:
        """End the hold: the call's real spend is `call` (its final ledger row), or unknown (None, the call died
        with its process: the estimate stays spent). Settling twice, or an unknown reservation, is a no-op."""
        ...


@contextmanager
def hold(
    budget: Reservations, node: str | None, usd: float, tokens: int, where: str = ""
) -> Iterator[Callable[[CallRecord], None]]:
    """Reserve for the duration of a call; yields the function that reports the call's final ledger row, which
    is settled on exit (None if never reported). Raises `BudgetExceeded` before the block runs."""
    reservation = budget.reserve(node, usd, tokens, where)
    final: list[CallRecord] = []
    try:
        yield final.append
    finally:
        budget.settle(reservation, final[-1] if final else None)


class Budget:
    """The limits of one campaign, checked against its ledger, for the calls of one process."""

    def __init__(self, limits: BudgetLimits, ledger: Ledger, campaign: str) -> None:
        self.limits = limits
        self._ledger = ledger
        self._campaign = campaign
        self._holds: dict[str, Reservation] = {}
        self._lock = threading.Lock()

    def reserve(self, node: str | None, usd: float, tokens: int, where: str = "") -> Reservation:
        """A negative estimate is held as 0; one that is not a number (NaN) cannot be held against a limit at all
        (ValueError)."""
        if math.isnan(usd) or math.isnan(tokens):
            raise ValueError(f"a budget hold needs numbers, got usd={usd!r}, tokens={tokens!r}")
        reservation = Reservation(node, max(usd, 0.0), max(tokens, 0))
        with self._lock:
            self._check(reservation, where)
            self._holds[reservation.id] = reservation
        return reservation

    def settle(self, reservation: Reservation, call: CallRecord | None) -> None:
        """Release the hold: the spend is the ledger's, where the caller recorded `call` before settling."""
        with self._lock:
            self._holds.pop(reservation.id, None)

    def _check(self, call: Reservation, where: str) -> None:
        scopes: list[tuple[str, str | None, float | None, int | None]] = [
            (f"campaign {self._campaign!r}", None, self.limits.usd, self.limits.tokens)
        ]
        if call.node is not None:
            scopes.append((f"node {call.node!r}", call.node, self.limits.node_usd, self.limits.node_tokens))
        for label, node, usd_limit, token_limit in scopes:
            if usd_limit is None and token_limit is None:
                continue
            spent = self._ledger.totals(self._campaign, node)
            pending = [h for h in self._holds.values() if node is None or h.node == node]
            checks = [
                ("USD", usd_limit, spent.cost_usd, sum(h.usd for h in pending), call.usd),
                ("token", token_limit, spent.tokens, sum(h.tokens for h in pending), call.tokens),
            ]
            for unit, limit, used, in_flight, estimate in checks:
                if limit is not None and used + in_flight + estimate > limit:
                    raise BudgetExceeded(
                        f"{label} {unit} limit {limit:g} would be crossed: spent {used:g}"
                        f" + in flight {in_flight:g} + this call up to {estimate:g} (conservative estimate)",
                        where=where,
                    )
