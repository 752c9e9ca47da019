"""Issue 12, hole 5 in depth: whatever reaches the budget and the ledger, spend can only grow. A negative
estimate never makes room under a limit, and a `pending` row of a killed call never lowers recorded spend,
on every ledger (in memory, its own SQLite file, the campaign archive's, settled after a crash)."""

from __future__ import annotations

import math

import pytest

from opendgm.archive import Archive
from opendgm.llm import BudgetExceeded, BudgetLimits, CallRecord, InvalidRequest, MemoryLedger, SQLiteLedger
from opendgm.llm.budget import Budget, hold
from tests.support.gateway_attack import post, router_for
from tests.support.llm_fakes import MESSAGES


@pytest.mark.parametrize("hostile", [{"tokens": -(10**6)}, {"usd": -5.0}, {"tokens": -(10**6), "usd": -5.0}])
def test_a_negative_hold_makes_no_room_under_a_limit(hostile):
    budget = Budget(BudgetLimits(node_tokens=100, node_usd=1.0), MemoryLedger(), "c")

    with hold(budget, "n", **({"usd": 0.0, "tokens": 0} | hostile)):
        with hold(budget, "n", usd=0.5, tokens=90):
            pass
        with pytest.raises(BudgetExceeded):
            hold(budget, "n", usd=0.5, tokens=101).__enter__()
        with pytest.raises(BudgetExceeded):
            hold(budget, "n", usd=1.5, tokens=1).__enter__()


@pytest.mark.parametrize("estimate", [{"usd": math.nan}, {"usd": math.inf}])
def test_an_estimate_that_is_not_a_finite_number_is_never_held(estimate):
    budget = Budget(BudgetLimits(usd=1.0), MemoryLedger(), "c")

    with pytest.raises((BudgetExceeded, ValueError)):
        hold(budget, None, **({"tokens": 1} | estimate)).__enter__()


@pytest.mark.parametrize("value", [-5, 0, 2.5, "7", True])
def test_a_direct_call_with_a_bad_token_count_is_refused_before_anything(fake_provider, value):
    router = router_for(fake_provider)

    with pytest.raises(InvalidRequest, match="max_tokens"):
        router.complete("agent", MESSAGES, max_tokens=value)

    assert fake_provider.count == 0
    assert router.ledger.calls() == []  # not even a pending row


def _row(campaign: str, outcome: str, tokens: int, usd: float) -> CallRecord:
    return CallRecord(
        campaign=campaign,
        node="n",
        role="agent",
        purpose="agent",
        model="fake",
        outcome=outcome,
        prompt_tokens=tokens // 2,
        completion_tokens=tokens - tokens // 2,
        cost_usd=usd,
    )


def _negative_pending(campaign: str) -> CallRecord:
    """What a killed call with a negative estimate would have left behind."""
    return _row(campaign, "pending", -(2 * 10**6), -5.0)


def _spent(campaign: str) -> CallRecord:
    return _row(campaign, "ok", 20, 0.02)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_negative_row_never_lowers_a_ledgers_spend(tmp_path, kind):
    ledger = MemoryLedger() if kind == "memory" else SQLiteLedger(tmp_path / "ledger.sqlite")
    ledger.record(_spent("c"))
    before = ledger.totals("c", "n")

    pending = _negative_pending("c")
    ledger.record(pending)
    ledger.record(CallRecord(**{**pending.__dict__, "outcome": "interrupted"}))  # settled as a crash would be

    after = ledger.totals("c", "n")
    assert (after.tokens, after.cost_usd) >= (before.tokens, before.cost_usd)


def test_a_killed_calls_negative_pending_row_never_lowers_the_archives_spend(tmp_path):
    root = tmp_path / "campaign"
    with Archive.create(root, "c") as archive:
        archive.ledger.record(_spent("c"))
        before = archive.ledger.totals("c", "n")
        archive.ledger.record(_negative_pending("c"))  # the process dies here, the row stays pending

    with Archive.open(root) as reopened:  # a writer settles the pending row as `interrupted`
        after = reopened.ledger.totals("c", "n")
        assert [call.outcome for call in reopened.ledger.calls("c")] == ["ok", "interrupted"]

    assert (after.tokens, after.cost_usd) >= (before.tokens, before.cost_usd)


def test_a_hostile_usage_report_never_lowers_spend(fake_provider, make_gateway):
    """The provider's usage is charged as reported; a negative report must not pay spend back."""
    from tests.support.llm_fakes import Reply, completion

    router = router_for(fake_provider)
    gateway = make_gateway(router)
    fake_provider.default = Reply(body=completion(prompt_tokens=-(10**6), completion_tokens=-5))

    assert post(gateway.socket_path, gateway.issue_token("n", "agent"), {"messages": MESSAGES})[0] == 200

    row = router.ledger.calls()[-1]
    assert row.prompt_tokens >= 0 and row.completion_tokens >= 0 and row.cost_usd >= 0
