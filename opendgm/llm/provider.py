"""The door to providers: send a request, count and price tokens.

A self-hosted OpenAI-compatible server (`api_base` and an `openai/<name>` model) is sent to directly
(`openai_compat.py`); everything else goes through litellm. Both paths share the key handling here and
the classification of failures (`failures.py`).

litellm is imported lazily (it takes seconds) and configured once: no retries of its own (the Router owns
the retry policy), no telemetry, no debug banners, and the bundled price map instead of a network fetch.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from opendgm.llm import openai_compat, price_map, token_count
from opendgm.llm.errors import ConfigError, LLMError
from opendgm.llm.failures import classify, retry_after
from opendgm.llm.prompt_cache import WRITE_PREMIUM
from opendgm.llm.roles import FREE, Price, RoleConfig

# Placeholder key for OpenAI-compatible servers that need none: without it litellm would fall back to
# OPENAI_API_KEY and hand the user's real key to whatever server the api_base names.
NO_KEY = "opendgm-no-key"

# litellm stacks class names before the provider's words ("litellm.BadRequestError: OpenAIException - ...").
_LITELLM_PREFIX = re.compile(r"^((litellm\.)?\w+(Error|Exception)(: | - ))+")


@functools.cache
def _litellm() -> ModuleType:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # read at import: never fetch prices online
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.num_retries = 0
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm


def send(role: RoleConfig, request: dict[str, Any], where: str, timeout_s: float | None = None) -> dict[str, Any]:
    """One attempt, silent for at most `timeout_s` (default: the role's): the OpenAI-format response as a dict,
    or a classified `LLMError`."""
    api_key = _api_key(role, where)
    timeout_s = role.timeout_s if timeout_s is None else timeout_s
    if openai_compat.handles(role):
        return openai_compat.send(role, request, api_key or NO_KEY, where, timeout_s)
    kwargs = {**request, "timeout": timeout_s, "num_retries": 0, "max_retries": 0}
    if role.api_base:
        kwargs["api_base"] = role.api_base
        kwargs["api_key"] = api_key or NO_KEY
    elif api_key:
        kwargs["api_key"] = api_key
    litellm = _litellm()
    try:
        return litellm.completion(**kwargs).model_dump()
    except Exception as exc:
        raise _classify_litellm(exc, where) from exc


def _api_key(role: RoleConfig, where: str) -> str | None:
    """The key from the role's variable; None when the role names none (a ConfigError when it is unset)."""
    if not role.api_key_env:
        return None
    key = os.environ.get(role.api_key_env)
    if not key:
        raise ConfigError(f"environment variable {role.api_key_env} is not set", where=where)
    return key


def require_keys(roles: Mapping[str, RoleConfig]) -> None:
    """Refuse, before any work, roles whose `api_key_env` names an unset variable: a config error the operator
    fixes, not a model-service failure met in the middle of a campaign (issue 13)."""
    unset = [f"{role.api_key_env} (role {name})" for name, role in roles.items()
             if role.api_key_env and not os.environ.get(role.api_key_env)]  # fmt: skip
    if unset:
        raise ConfigError(f"environment variable(s) not set: {', '.join(unset)}; set them, then run again")


def _classify_litellm(exc: Exception, where: str) -> LLMError:
    """What litellm (or the OpenAI SDK / httpx under it) raised, as an `LLMError`."""
    response = getattr(exc, "response", None)
    headers = getattr(exc, "litellm_response_headers", None) or getattr(response, "headers", None)
    return classify(
        _LITELLM_PREFIX.sub("", str(exc)),
        where,
        status=getattr(exc, "status_code", None),
        code=getattr(exc, "code", None),
        cause=exc,
        context_exceeded=isinstance(exc, _litellm().ContextWindowExceededError),
        retry_after_s=retry_after(headers),
    )


def count_tokens(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """Prompt tokens as litellm counts them (the model's tokenizer if known, else tiktoken's), the tools' definitions
    included: they are part of the prompt the provider bills. Where litellm's rule is plain, `token_count` applies
    it without importing litellm."""
    counted = token_count.count(model, messages, tools)
    if counted is not None:
        return counted
    return int(_litellm().token_counter(model=model, messages=messages, tools=tools))


def price_of(role: RoleConfig, where: str) -> Price:
    """The role's price override, else litellm's bundled map; unmapped self-hosted models are free. Cache prices
    the role does not set come from the map, else conservative defaults: a read at the full prompt price, a write
    at the prompt price times Anthropic's premium for the role's TTL where the host asks for caching.

    An unmapped hosted model is a configuration error: a budget cannot guard spend it cannot price.
    """
    price, known = role.price, {}
    if price is None and openai_compat.handles(role) and price_map.unmapped(role.model):
        return FREE  # what litellm's lookup ends in for a self-hosted model it has no price for, without its import
    if price is None:
        try:
            info = _litellm().get_model_info(role.model)
            price = Price(prompt=info["input_cost_per_token"] * 1e6, completion=info["output_cost_per_token"] * 1e6)
            known = info
        except Exception as exc:
            if role.api_base:
                return FREE
            raise ConfigError(
                f"litellm's price map does not know {role.model!r};"
                " set `price: {prompt: ..., completion: ...}` (USD per 1M tokens) on the role",
                where=where,
            ) from exc
    write_key = "cache_creation_input_token_cost" + ("_above_1hr" if role.cache_ttl == "1h" else "")
    premium = WRITE_PREMIUM[role.cache_ttl] if explicit_caching(role) else 1.0
    read, write = known.get("cache_read_input_token_cost"), known.get(write_key)
    return price.model_copy(
        update={
            "cache_read": _first(price.cache_read, read and read * 1e6, price.prompt),
            "cache_write": _first(price.cache_write, write and write * 1e6, price.prompt * premium),
        }
    )


def _first(*values: float | None) -> float:
    return next(value for value in values if value is not None)


def explicit_caching(role: RoleConfig) -> bool:
    """Whether the role's provider caches only where a request marks it (Anthropic's `cache_control`)."""
    if openai_compat.handles(role):
        return False
    try:
        return _litellm().get_llm_provider(role.model, api_base=role.api_base)[1] == "anthropic"
    except Exception:  # a model litellm cannot place: no marks (sending marks to the wrong API would fail)
        return False
