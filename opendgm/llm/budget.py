"""Spend guardrails: a call that could cross a limit is refused before it is sent (invariant 4: every model call
recorded and budgeted, docs/invariants.md).

Spend is read from the ledger (so a resumed campaign with a higher limit simply continues), plus the
estimates of calls still in flight (so concurrent sandboxes cannot overshoot together). The estimate is
conservative: the full prompt plus the whole `max_tokens`, at the role's price. Whatever a caller passes, a hold
never counts less than nothing: a negative estimate would make room for other calls under the limit.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opendgm.llm.errors import BudgetExceeded
from opendgm.llm.ledger import Ledger
from opendgm.llm.roles import BudgetLimits


@dataclass(frozen=True, eq=False)
class _Hold:
    node: str | None
    usd: float
    tokens: int


class Budget:
    """The limits of one campaign, checked against its ledger."""

    def __init__(self, limits: BudgetLimits, ledger: Ledger, campaign: str) -> None:
        self.limits = limits
        self._ledger = ledger
        self._campaign = campaign
        self._holds: list[_Hold] = []
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, node: str | None, usd: float, tokens: int, where: str = "") -> Iterator[None]:
        """Reserve an estimated spend for the duration of a call, or raise `BudgetExceeded`.

        Release happens on exit; the caller records the real spend in the ledger before that. A negative estimate
        is held as 0; one that is not a number (NaN) cannot be held against a limit at all (ValueError).
        """
        if math.isnan(usd) or math.isnan(tokens):
            raise ValueError(f"a budget hold needs numbers, got usd={usd!r}, tokens={tokens!r}")
        hold = _Hold(node, max(usd, 0.0), max(tokens, 0))
        with self._lock:
            self._check(hold, where)
            self._holds.append(hold)
        try:
            yield
        finally:
            with self._lock:
                self._holds.remove(hold)

    def _check(self, call: _Hold, where: str) -> None:
        scopes = [(f"campaign {self._campaign!r}", None, self.limits.usd, self.limits.tokens)]
        if call.node is not None:
            scopes.append((f"node {call.node!r}", call.node, self.limits.node_usd, self.limits.node_tokens))
        for label, node, usd_limit, token_limit in scopes:
            if usd_limit is None and token_limit is None:
                continue
            spent = self._ledger.totals(self._campaign, node)
            pending = [h for h in self._holds if node is None or h.node == node]
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
