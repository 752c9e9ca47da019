"""Fixtures of the model layer: a scriptable fake OpenAI-compatible provider on 127.0.0.1, the real
embedded llama.cpp server, routers and gateways wired to them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llm_fakes import FAST_RETRY, SECRET, SECRET_ENV, FakeProvider

from opendgm.llm import Price, RoleConfig, Router


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The host holds a provider key in its environment, as a real campaign would."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return SECRET


@pytest.fixture
def fake_role(fake_provider: FakeProvider, secret_env: str) -> Callable[..., RoleConfig]:
    """A priced role on the fake provider ($1000 per 1M tokens, i.e. $0.001 a token); fields overridable."""

    def make(**overrides: Any) -> RoleConfig:
        fields = {
            "model": "openai/fake",
            "api_base": fake_provider.base_url,
            "api_key_env": SECRET_ENV,
            "max_tokens": 10,
            "price": Price(prompt=1000, completion=1000),
            "timeout_s": 5,
        }
        return RoleConfig(**(fields | overrides))

    return make


@pytest.fixture
def make_router(fake_role: Callable[..., RoleConfig]) -> Callable[..., Router]:
    """A Router with one role `agent` on the fake provider and fast retries."""

    def make(role: RoleConfig | None = None, **kwargs: Any) -> Router:
        return Router({"agent": role or fake_role()}, **({"retry": FAST_RETRY} | kwargs))

    return make
