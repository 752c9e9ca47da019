"""Both ledgers keep the same books: every row, totals by campaign and node, across a reopen."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace

import pytest

from opendgm.llm import CallRecord, MemoryLedger, SQLiteLedger


def _call(campaign: str, node: str | None, outcome: str = "ok", tokens: tuple[int, int] = (10, 5)) -> CallRecord:
    return CallRecord(
        campaign=campaign,
        node=node,
        role="agent",
        purpose="test",
        model="openai/x",
        outcome=outcome,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        cost_usd=0.01 * sum(tokens),
    )


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request, tmp_path):
    return MemoryLedger() if request.param == "memory" else SQLiteLedger(tmp_path / "ledger.sqlite")


def test_totals_by_campaign_and_node(ledger):
    for call in [_call("c1", "a"), _call("c1", "a", "error", (0, 0)), _call("c1", "b"), _call("c2", None)]:
        ledger.record(call)

    everything = ledger.totals()
    assert (everything.calls, everything.errors, everything.tokens) == (4, 1, 45)
    assert everything.cost_usd == pytest.approx(0.45)
    assert ledger.totals(campaign="c1").calls == 3
    node_a = ledger.totals(campaign="c1", node="a")
    assert (node_a.calls, node_a.errors, node_a.prompt_tokens, node_a.completion_tokens) == (2, 1, 10, 5)
    assert ledger.totals(campaign="nope").calls == 0
    assert ledger.totals(campaign="nope").cost_usd == 0


def test_rows_read_back_as_written(ledger):
    calls = [_call("c1", "a"), replace(_call("c1", "b", "error"), replayed=True, error_class="X", error="boom")]
    for call in calls:
        ledger.record(call)

    assert ledger.calls(campaign="c1") == calls
    assert ledger.calls(node="b") == calls[1:]


def test_the_sqlite_ledger_survives_a_reopen(tmp_path):
    path = tmp_path / "ledger.sqlite"
    first = SQLiteLedger(path)
    call = _call("c1", "a")
    first.record(call)
    first.close()

    assert SQLiteLedger(path).calls() == [call]


def test_a_final_record_replaces_only_a_pending_row(ledger):
    pending = _call("c1", "a", "pending", (100, 50))
    ledger.record(pending)
    assert ledger.totals().calls == 0, "in flight: the budget's holds count it, not the totals"
    assert [c.outcome for c in ledger.calls()] == ["pending"]

    final = replace(pending, outcome="ok", prompt_tokens=10, completion_tokens=5, cost_usd=0.15)
    ledger.record(final)
    ledger.record(replace(final, outcome="error"))  # a second final record of the same call changes nothing
    assert ledger.calls() == [final]
    assert (ledger.totals().calls, ledger.totals().tokens) == (1, 15)


def test_a_ledger_file_written_before_the_cache_columns_gains_them(tmp_path):
    path = tmp_path / "old.sqlite"
    old_columns = "campaign, node, role, purpose, model, outcome, prompt_tokens, completion_tokens, cost_usd,"
    old_columns += " latency_s, attempts, replayed, error_class, error, request_hash, id, ts"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"CREATE TABLE llm_calls ({old_columns})")
        conn.execute(f"INSERT INTO llm_calls ({old_columns}) VALUES ('c', 'n', 'r', 'p', 'm', 'ok', 10, 5, 0.1,"
                     " 1.0, 1, 0, NULL, NULL, 'h', 'id1', 1.0)")  # fmt: skip
        conn.commit()

    ledger = SQLiteLedger(path)
    ledger.record(replace(_call("c", "n"), cache_read_tokens=7, cache_write_tokens=2))

    old, new = ledger.calls()
    assert (old.id, old.prompt_tokens, old.cache_read_tokens, old.cache_write_tokens) == ("id1", 10, 0, 0)
    assert (new.cache_read_tokens, new.cache_write_tokens) == (7, 2)
    assert (ledger.totals().cache_read_tokens, ledger.totals().cache_write_tokens) == (7, 2)
