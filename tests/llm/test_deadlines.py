"""Issue 13: time limits that cannot confuse the infrastructure with the agent. A provider's Retry-After is
honoured (bounded); a hung provider is reported as hung; a call's retries stop at its deadline (a token's, or the
policy's total time), after which the gateway answers 503 `model_timeout`; and the gateway keeps a record per
token of what its calls met, for the host to tell infrastructure failures from the agent's own."""

from __future__ import annotations

import contextlib
import json
import threading
import time

import pytest

from opendgm.llm import (
    BudgetLimits,
    LLMTimeout,
    ModelTimeout,
    RetriesExhausted,
    RetryPolicy,
    TokenRecord,
)
from opendgm.llm.gateway_client import UnixHTTPConnection
from tests.support.llm_fakes import MESSAGES, Reply, error, one_call_usd

QUICK = {"attempts": 3, "initial_s": 0.01, "max_s": 0.02, "jitter_s": 0.01}


def _rate_limited(**headers: str) -> Reply:
    reply = error(429, "slow down")
    reply.headers = headers
    return reply


def _gap(fake_provider) -> float:
    first, second = fake_provider.requests[:2]
    return second["at"] - first["at"]


@pytest.mark.parametrize(("header", "value", "seconds"), [("Retry-After", "1", 1.0), ("retry-after-ms", "700", 0.7)])
def test_retry_after_is_honoured(fake_provider, make_router, header, value, seconds):
    fake_provider.script = [_rate_limited(**{header: value})]
    router = make_router(retry=RetryPolicy(**QUICK))

    assert router.complete("agent", MESSAGES).text == "hello"

    assert fake_provider.count == 2
    assert _gap(fake_provider) >= seconds * 0.95  # not the policy's 10-20 ms backoff


def test_a_long_retry_after_is_bounded_by_the_policy(fake_provider, make_router):
    fake_provider.script = [_rate_limited(**{"Retry-After": "3600"})]
    router = make_router(retry=RetryPolicy(**QUICK, retry_after_max_s=0.5))

    assert router.complete("agent", MESSAGES).text == "hello"

    assert 0.45 <= _gap(fake_provider) < 30


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(fake_provider, make_router):
    fake_provider.script = [_rate_limited(**{"Retry-After": "30"})]
    router = make_router(retry=RetryPolicy(**QUICK, retry_after_max_s=60))
    started = time.monotonic()

    with pytest.raises(ModelTimeout) as caught:
        router.complete("agent", MESSAGES, deadline=started + 5)

    assert time.monotonic() - started < 4  # no point waiting 5 s for an answer that cannot come before 30 s
    assert fake_provider.count == 1
    assert "Retry-After" in str(caught.value) and caught.value.infrastructure
    assert router.ledger.calls()[-1].error_class == "ModelTimeout"


def test_a_hung_provider_is_reported_as_hung(fake_provider, make_router, fake_role):
    fake_provider.default = Reply(hang_s=30)
    router = make_router(fake_role(timeout_s=0.3), retry=RetryPolicy(**QUICK))
    started = time.monotonic()

    with pytest.raises(RetriesExhausted) as caught:
        router.complete("agent", MESSAGES)

    assert time.monotonic() - started < 10
    assert isinstance(caught.value.last, LLMTimeout)
    assert "no answer within 0.3 s" in str(caught.value)
    assert fake_provider.count == 3


def test_the_policys_total_time_bounds_a_call(fake_provider, make_router):
    fake_provider.default = error(500, "down")
    router = make_router(retry=RetryPolicy(attempts=1000, initial_s=0.05, max_s=0.05, jitter_s=0, total_s=1))
    started = time.monotonic()

    with pytest.raises(ModelTimeout, match=r"attempts in \d"):
        router.complete("agent", MESSAGES)

    assert time.monotonic() - started < 5
    assert 2 <= fake_provider.count < 1000


def _post(gateway, token: str, body: dict, timeout: float = 60) -> tuple[int, dict]:
    conn = UnixHTTPConnection(str(gateway.socket_path), timeout=timeout)
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _answered(gateway, token: str, body: dict) -> None:
    """A call whose answer may never come (the gateway stops first): nothing to check."""
    with contextlib.suppress(OSError):
        _post(gateway, token, body)


def test_a_tokens_deadline_stops_a_hung_call_with_model_timeout(fake_provider, make_router, fake_role, make_gateway):
    fake_provider.default = Reply(hang_s=30)
    gateway = make_gateway(make_router(fake_role(timeout_s=30)))  # the role alone would wait 30 s an attempt
    token = gateway.issue_token("n", "agent", deadline_s=1)
    started = time.monotonic()

    status, payload = _post(gateway, token, {"messages": MESSAGES})

    assert time.monotonic() - started < 8
    assert (status, payload["error"]["type"]) == (503, "model_timeout")
    record = gateway.record(token)
    assert (record.requests, record.served, record.budget_refused) == (1, 0, False)
    assert len(record.infra_failures) == 1 and "model_timeout" in record.infra_failures[0]
    assert record.wait_s >= 0.9


def test_the_record_tells_the_services_failures_from_the_agents(fake_provider, make_router, fake_role, make_gateway):
    router = make_router(limits=BudgetLimits(node_usd=one_call_usd(fake_role())))
    gateway = make_gateway(router)
    token = gateway.issue_token("n", "agent")
    fake_provider.script = [error(500, "down")] * router.retry.attempts  # the first call's every attempt

    statuses = [
        _post(gateway, token, {"messages": MESSAGES})[0],  # upstream failing past the retries: the service's
        _post(gateway, token, {"messages": MESSAGES})[0],  # served
        _post(gateway, token, {"messages": MESSAGES, "max_tokens": -1})[0],  # the agent's own bad request
        _post(gateway, token, {"messages": MESSAGES})[0],  # the node's budget is spent: not the agent's doing
        _post(gateway, "not-a-token", {"messages": MESSAGES})[0],  # nobody's request
    ]
    gateway.revoke(token)

    assert statuses == [503, 200, 400, 402, 401]
    record = gateway.record(token)  # still there after revoke
    assert isinstance(record, TokenRecord)
    assert (record.requests, record.served, record.budget_refused, record.in_flight_at_revoke) == (4, 1, True, 0)
    assert [line.split(" ", 2)[:2] for line in record.infra_failures] == [
        ["503", "retries_exhausted:"],
        ["402", "budget_exceeded:"],
    ]
    assert record.wait_s > 0


def test_calls_in_flight_at_revoke_are_counted(fake_provider, make_router, make_gateway):
    fake_provider.default = Reply(hang_s=30)
    gateway = make_gateway(make_router())
    token = gateway.issue_token("n", "agent", deadline_s=5)
    call = threading.Thread(target=_answered, args=(gateway, token, {"messages": MESSAGES}), daemon=True)
    call.start()
    deadline = time.monotonic() + 30
    while fake_provider.count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)

    gateway.revoke(token)

    assert gateway.record(token).in_flight_at_revoke == 1


def test_only_issued_tokens_have_records(make_router, make_gateway):
    gateway = make_gateway(make_router())
    with pytest.raises(KeyError):
        gateway.record("never-issued")
