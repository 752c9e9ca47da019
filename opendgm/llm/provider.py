"""The one door to litellm: send a request, classify its failures, count and price tokens.

litellm is imported lazily (it takes seconds) and configured once: no retries of its own (the Router owns
the retry policy), no telemetry, no debug banners, and the bundled price map instead of a network fetch.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from types import ModuleType
from typing import Any

from opendgm.llm.errors import (
    AuthenticationFailed,
    BadRequest,
    ConfigError,
    ConnectionFailed,
    ContextTooLong,
    LLMError,
    LLMTimeout,
    MalformedResponse,
    ModelNotFound,
    ProviderError,
    RateLimited,
    ServerError,
)
from opendgm.llm.roles import FREE, Price, RoleConfig

# Placeholder key for OpenAI-compatible servers that need none: without it litellm would fall back to
# OPENAI_API_KEY and hand the user's real key to whatever server the api_base names.
NO_KEY = "opendgm-no-key"

_CONTEXT_PHRASES = re.compile(r"context.(length|window)|too many tokens|prompt is too long", re.IGNORECASE)
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


def send(role: RoleConfig, request: dict[str, Any], where: str) -> dict[str, Any]:
    """One attempt: the OpenAI-format response as a dict, or a classified `LLMError`."""
    kwargs = {**request, "timeout": role.timeout_s, "num_retries": 0, "max_retries": 0}
    if role.api_base:
        kwargs["api_base"] = role.api_base
    if role.api_key_env:
        kwargs["api_key"] = os.environ.get(role.api_key_env)
        if not kwargs["api_key"]:
            raise ConfigError(f"environment variable {role.api_key_env} is not set", where=where)
    elif role.api_base:
        kwargs["api_key"] = NO_KEY
    litellm = _litellm()
    try:
        return litellm.completion(**kwargs).model_dump()
    except Exception as exc:
        raise classify(exc, where) from exc


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify(exc: Exception, where: str) -> LLMError:
    """Map whatever litellm / the OpenAI SDK / httpx raised onto the `LLMError` hierarchy."""
    import httpx
    import openai

    litellm = _litellm()
    chain = _chain(exc)
    status = getattr(exc, "status_code", None)
    message = _LITELLM_PREFIX.sub("", str(exc))[:500]

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    if has(json.JSONDecodeError):
        return MalformedResponse(f"provider returned invalid JSON: {message}", where=where)
    if has(openai.APITimeoutError, httpx.TimeoutException, TimeoutError):
        return LLMTimeout(message, where=where)
    if has(litellm.ContextWindowExceededError) or (
        status in (400, 413, 422)
        and (getattr(exc, "code", None) == "context_length_exceeded" or _CONTEXT_PHRASES.search(message))
    ):
        return ContextTooLong(message, where=where, status=status)
    by_status: dict[int, type[LLMError]] = {
        401: AuthenticationFailed,
        403: AuthenticationFailed,
        404: ModelNotFound,
        429: RateLimited,
        408: ServerError,
        409: ServerError,
    }
    if status in by_status:
        return by_status[status](message, where=where, status=status)
    if has(openai.APIConnectionError, httpx.TransportError, ConnectionError):
        return ConnectionFailed(message, where=where)
    if isinstance(status, int) and status >= 500:
        return ServerError(message, where=where, status=status)
    if isinstance(status, int) and 400 <= status < 500:
        return BadRequest(message, where=where, status=status)
    return ProviderError(f"{type(exc).__name__}: {message}", where=where, status=status)


def count_tokens(model: str, messages: list[dict[str, Any]]) -> int:
    """Prompt tokens as litellm counts them (the model's tokenizer if known, else tiktoken's)."""
    return int(_litellm().token_counter(model=model, messages=messages))


def price_of(role: RoleConfig, where: str) -> Price:
    """The role's price override, else litellm's bundled map; unmapped self-hosted models are free.

    An unmapped hosted model is a configuration error: a budget cannot guard spend it cannot price.
    """
    if role.price is not None:
        return role.price
    try:
        info = _litellm().get_model_info(role.model)
        return Price(prompt=info["input_cost_per_token"] * 1e6, completion=info["output_cost_per_token"] * 1e6)
    except Exception as exc:
        if role.api_base:
            return FREE
        raise ConfigError(
            f"litellm's price map does not know {role.model!r};"
            " set `price: {prompt: ..., completion: ...}` (USD per 1M tokens) on the role",
            where=where,
        ) from exc
