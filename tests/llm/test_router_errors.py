"""Failures against a fake provider: transient ones are retried within a bound, permanent ones surface
at once as typed errors, and every call leaves a ledger row. No failure yields a string."""

from __future__ import annotations

import time

import pytest

from opendgm.llm import (
    AuthenticationFailed,
    BadRequest,
    ConfigError,
    ConnectionFailed,
    ContextTooLong,
    LLMError,
    LLMTimeout,
    MalformedResponse,
    ModelNotFound,
    RetriesExhausted,
    ServerError,
)
from tests.support.llm_fakes import MESSAGES, SECRET, SECRET_ENV, Reply, closed_url, completion, error


def _last_row(router):
    return router.ledger.calls()[-1]


def test_rate_limit_then_success_is_retried(fake_provider, make_router):
    fake_provider.script = [error(429, "slow down"), Reply(body=completion("hello there", 7, 2))]
    router = make_router()

    result = router.complete("agent", MESSAGES, node="n1", purpose="test")

    assert result.text == "hello there"
    assert fake_provider.count == 2
    row = _last_row(router)
    assert (row.outcome, row.attempts, row.node, row.purpose) == ("ok", 2, "n1", "test")
    assert (row.prompt_tokens, row.completion_tokens) == (7, 2)
    assert row.cost_usd == pytest.approx(9 * 0.001)


def test_server_errors_past_the_retry_bound_fail_clearly(fake_provider, make_router):
    fake_provider.default = error(500, "upstream on fire")
    router = make_router()

    with pytest.raises(RetriesExhausted) as caught:
        router.complete("agent", MESSAGES)

    assert fake_provider.count == router.retry.attempts == 3
    assert isinstance(caught.value.last, ServerError)
    message = str(caught.value)
    assert "gave up after 3 attempts" in message and "HTTP 500" in message and "upstream on fire" in message
    row = _last_row(router)
    assert (row.outcome, row.error_class, row.attempts) == ("error", "RetriesExhausted", 3)


def test_bad_key_fails_at_once_with_one_request(fake_provider, make_router, monkeypatch):
    fake_provider.require_key = True
    monkeypatch.setenv(SECRET_ENV, "sk-wrong")
    router = make_router()

    with pytest.raises(AuthenticationFailed) as caught:
        router.complete("agent", MESSAGES)

    assert fake_provider.count == 1
    assert "HTTP 401" in str(caught.value) and "api_key_env" in str(caught.value)
    assert (_last_row(router).error_class, _last_row(router).attempts) == ("AuthenticationFailed", 1)


def test_key_is_read_from_the_named_variable(fake_provider, make_router):
    fake_provider.require_key = True

    assert make_router().complete("agent", MESSAGES).text == "hello"
    assert fake_provider.requests[0]["headers"]["authorization"] == f"Bearer {SECRET}"


def test_unset_key_variable_is_a_config_error_and_nothing_is_sent(fake_provider, make_router, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)

    router = make_router()
    with pytest.raises(ConfigError, match=SECRET_ENV):
        router.complete("agent", MESSAGES)
    assert fake_provider.count == 0
    assert (router.ledger.calls()[-1].error_class, router.ledger.calls()[-1].attempts) == ("ConfigError", 0)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (error(403, "forbidden"), AuthenticationFailed),
        (error(404, "no such model"), ModelNotFound),
        (error(400, "prompt too big", code="context_length_exceeded"), ContextTooLong),
        (error(422, "bad field"), BadRequest),
    ],
)
def test_permanent_errors_are_typed_and_not_retried(fake_provider, make_router, reply, expected):
    fake_provider.script = [reply]
    router = make_router()

    with pytest.raises(expected) as caught:
        router.complete("agent", MESSAGES)

    assert fake_provider.count == 1
    assert reply.body["error"]["message"] in str(caught.value)
    assert _last_row(router).error_class == expected.__name__


def test_malformed_json_is_reported_as_such(fake_provider, make_router):
    fake_provider.script = [Reply(raw=b'{"id": "x", "choices": [')]

    with pytest.raises(MalformedResponse, match="invalid JSON"):
        make_router().complete("agent", MESSAGES)
    assert fake_provider.count == 1


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (completion() | {"choices": []}, "no choices"),
        (completion(content=None, prompt_tokens=6, completion_tokens=3), "empty completion"),
        (completion(content="", prompt_tokens=6, completion_tokens=3), "empty completion"),
    ],
)
def test_an_empty_answer_is_an_error_not_an_empty_string(fake_provider, make_router, body, why):
    fake_provider.script = [Reply(body=body)]
    router = make_router()

    with pytest.raises(MalformedResponse, match=why):
        router.complete("agent", MESSAGES)

    row = _last_row(router)
    usage = body["usage"]
    # The provider charged for these tokens: the ledger says so even though the call failed.
    assert (row.prompt_tokens, row.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert row.cost_usd > 0


def test_a_hanging_server_hits_the_timeout(fake_provider, make_router, fake_role):
    fake_provider.default = Reply(hang_s=30)
    router = make_router(fake_role(timeout_s=0.3))

    started = time.monotonic()
    with pytest.raises(RetriesExhausted) as caught:
        router.complete("agent", MESSAGES)

    assert isinstance(caught.value.last, LLMTimeout)
    assert fake_provider.count == 3
    assert time.monotonic() - started < 5


def test_a_refused_connection_is_retried_then_reported(make_router, fake_role):
    with pytest.raises(RetriesExhausted) as caught:
        make_router(fake_role(api_base=closed_url())).complete("agent", MESSAGES)
    assert isinstance(caught.value.last, ConnectionFailed)


def test_connection_params_cannot_be_smuggled_into_a_call(fake_provider, make_router):
    with pytest.raises(ConfigError, match="api_key"):
        make_router().complete("agent", MESSAGES, api_key="sk-other")
    assert fake_provider.count == 0


def test_unknown_role_names_the_configured_ones(make_router):
    with pytest.raises(ConfigError, match="configured roles: agent"):
        make_router().complete("judge", MESSAGES)


def test_every_error_is_an_llm_error_with_a_location(fake_provider, make_router):
    fake_provider.script = [error(404, "gone")]

    with pytest.raises(LLMError) as caught:
        make_router().complete("agent", MESSAGES)
    assert str(caught.value).startswith("[agent → openai/fake]")
