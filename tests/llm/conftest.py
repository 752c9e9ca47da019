"""Fixtures of the model layer: a scriptable fake OpenAI-compatible provider on 127.0.0.1, the real
embedded llama.cpp server, routers and gateways wired to them.

Every test on the fake provider runs on both send paths: `direct` (a self-hosted OpenAI-compatible role is
sent by `openai_compat`) and `litellm` (the same role sent the way hosted providers are, through litellm)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from opendgm.llm import Price, RoleConfig, Router, openai_compat
from tests.support.llm_fakes import FAST_RETRY, SECRET, SECRET_ENV, FakeProvider


@pytest.fixture(autouse=True)
def _litellm_warning_filters() -> None:
    """The filters litellm installs when imported (it silences pydantic about its own types), for every test:
    pytest restores the filters after each test, so only the test that imported litellm would keep them."""
    warnings.filterwarnings("ignore", message=".*`ReadOnly` qualifier.*")


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The host holds a provider key in its environment, as a real campaign would."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return SECRET


@pytest.fixture(params=["direct", "litellm"])
def send_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The path self-hosted OpenAI-compatible roles take in this test: `litellm` turns the direct one off."""
    if request.param == "litellm":
        monkeypatch.setattr(openai_compat, "handles", lambda role: False)
    return request.param


@pytest.fixture
def fake_role(fake_provider: FakeProvider, secret_env: str, send_path: str) -> Callable[..., RoleConfig]:
    """A priced role on the fake provider ($1000 per 1M tokens, i.e. $0.001 a token), sent by `send_path`;
    fields overridable."""

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
