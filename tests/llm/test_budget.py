"""Budget: a call that would cross a limit is refused before anything is sent, spend is read back from
the ledger (so a resumed campaign continues under a higher limit), and in-flight calls count."""

from __future__ import annotations

import pytest

from opendgm.llm import BudgetExceeded, BudgetLimits, MemoryLedger, SQLiteLedger
from opendgm.llm.budget import Budget, hold
from tests.support.llm_fakes import MESSAGES, one_call_usd, reserved_for


def test_the_call_that_would_cross_the_usd_limit_is_never_sent(fake_provider, make_router, fake_role):
    role = fake_role()
    router = make_router(role, limits=BudgetLimits(usd=one_call_usd(role)))

    router.complete("agent", MESSAGES)
    assert fake_provider.count == 1
    with pytest.raises(BudgetExceeded) as caught:
        router.complete("agent", MESSAGES)

    assert fake_provider.count == 1  # refused before sending
    assert "USD limit" in str(caught.value) and "campaign" in str(caught.value)
    refused = router.ledger.calls()[-1]
    assert (refused.outcome, refused.error_class, refused.cost_usd) == ("refused", "BudgetExceeded", 0)


def test_the_token_limit_is_enforced_too(fake_provider, make_router, fake_role):
    role = fake_role()
    _, tokens = reserved_for(role)
    router = make_router(role, limits=BudgetLimits(tokens=tokens + 3))

    router.complete("agent", MESSAGES)
    with pytest.raises(BudgetExceeded, match="token limit"):
        router.complete("agent", MESSAGES)
    assert fake_provider.count == 1


def test_node_limits_apply_to_each_node_separately(fake_provider, make_router, fake_role):
    role = fake_role()
    router = make_router(role, limits=BudgetLimits(node_usd=one_call_usd(role)))

    router.complete("agent", MESSAGES, node="a")
    with pytest.raises(BudgetExceeded, match="node 'a'"):
        router.complete("agent", MESSAGES, node="a")
    router.complete("agent", MESSAGES, node="b")

    assert fake_provider.count == 2
    assert router.ledger.totals(node="a").errors == 1
    assert router.ledger.totals(node="b").errors == 0


def test_a_resumed_campaign_continues_under_a_higher_limit(fake_provider, make_router, fake_role, tmp_path):
    role = fake_role()
    limit = one_call_usd(role)
    path = tmp_path / "ledger.sqlite"

    first = make_router(role, ledger=SQLiteLedger(path), campaign="c1", limits=BudgetLimits(usd=limit))
    first.complete("agent", MESSAGES)
    first.ledger.close()

    # A restart with the same limit: spend survived in the ledger, so the next call is still refused.
    same = make_router(role, ledger=SQLiteLedger(path), campaign="c1", limits=BudgetLimits(usd=limit))
    with pytest.raises(BudgetExceeded):
        same.complete("agent", MESSAGES)
    # A restart with a higher limit continues.
    higher = make_router(role, ledger=SQLiteLedger(path), campaign="c1", limits=BudgetLimits(usd=limit * 3))
    higher.complete("agent", MESSAGES)

    assert fake_provider.count == 2
    assert higher.ledger.totals(campaign="c1").cost_usd == pytest.approx(2 * role.price.cost(5, 1))


def test_calls_in_flight_count_against_the_limit():
    budget = Budget(BudgetLimits(usd=1.0), MemoryLedger(), campaign="c")

    with (
        hold(budget, "n", usd=0.6, tokens=0),
        pytest.raises(BudgetExceeded, match=r"in flight 0\.6"),
        hold(budget, "m", usd=0.6, tokens=0),
    ):
        pass
    with hold(budget, "m", usd=0.6, tokens=0):  # released: room again
        pass
