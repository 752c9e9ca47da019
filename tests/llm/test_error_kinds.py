"""Issue 13: every model-layer failure says whether the model service, the budget or the host failed
(`infrastructure`: retried later, never a verdict on an agent) or not: the request itself was bad (an agent's
own over-long context, a field the gateway refuses), or the model answered it with nothing."""

from __future__ import annotations

import pytest

import opendgm.llm.errors as errors_module
from opendgm.llm import errors
from tests.support.llm_fakes import MESSAGES, Reply, completion, error

INFRASTRUCTURE = {
    errors.ConfigError,
    errors.BudgetExceeded,
    errors.ReplayMiss,
    errors.ProviderError,
    errors.AuthenticationFailed,
    errors.ModelNotFound,
    errors.MalformedResponse,
    errors.TransientLLMError,
    errors.RateLimited,
    errors.ServerError,
    errors.LLMTimeout,
    errors.ConnectionFailed,
    errors.RetriesExhausted,
    errors.ModelTimeout,
}
NOT_INFRASTRUCTURE = {errors.ContextTooLong, errors.BadRequest, errors.InvalidRequest, errors.EmptyCompletion}


def _all_subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct} | _all_subclasses(direct)}


def test_every_error_class_says_whose_failure_it_is():
    defined = {
        cls
        for cls in vars(errors_module).values()
        if isinstance(cls, type) and issubclass(cls, errors.LLMError) and cls is not errors.LLMError
    }
    assert defined == INFRASTRUCTURE | NOT_INFRASTRUCTURE  # a new class must be placed on one side
    assert all(cls.infrastructure for cls in INFRASTRUCTURE)
    assert not any(cls.infrastructure for cls in NOT_INFRASTRUCTURE)
    assert _all_subclasses(errors.LLMError) >= defined


@pytest.mark.parametrize(
    ("upstream", "infrastructure"),
    [
        (error(500, "on fire"), True),
        (error(429, "slow down"), True),
        (error(401, "bad key"), True),
        (error(404, "no such model"), True),
        (error(400, "prompt too long", code="context_length_exceeded"), False),
        (error(400, "unknown parameter"), False),
        (Reply(body=completion(content="")), False),  # the model's own empty answer
        (Reply(raw=b"{truncated"), True),
    ],
)
def test_a_direct_calls_failure_is_typed_by_whose_it_is(fake_provider, make_router, upstream, infrastructure):
    fake_provider.default = upstream

    with pytest.raises(errors.LLMError) as caught:
        make_router().complete("agent", MESSAGES)

    assert caught.value.infrastructure is infrastructure
