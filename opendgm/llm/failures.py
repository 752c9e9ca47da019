"""Which `LLMError` a failed send is: one classification for both send paths (litellm and the direct one).

The class decides the retry: `TransientLLMError`s (rate limit, 5xx, timeout, lost connection) are retried
by the Router, everything else surfaces at once. Both paths feed the same facts in (the HTTP status, the
provider's error code and message, its Retry-After, the exception that interrupted the exchange), so the same
upstream failure gets the same class whichever path sent the request.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from opendgm.llm.errors import (
    AuthenticationFailed,
    BadRequest,
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

_CONTEXT_PHRASES = re.compile(r"context.(length|window)|too many tokens|prompt is too long", re.IGNORECASE)
_BY_STATUS: dict[int, type[LLMError]] = {
    401: AuthenticationFailed,
    403: AuthenticationFailed,
    404: ModelNotFound,
    408: LLMTimeout,  # the server's own "request timeout", which litellm raises as a timeout too
    409: ServerError,
    429: RateLimited,
}


def classify(
    message: str,
    where: str,
    *,
    status: int | None = None,
    code: object = None,
    cause: BaseException | None = None,
    context_exceeded: bool = False,
    retry_after_s: float | None = None,
) -> LLMError:
    """The `LLMError` for a failed send, carrying the provider's `retry_after_s` (see `retry_after`).

    `status`, `code` and `message` are what the provider answered (if it answered), `cause` what was raised
    (the whole `__cause__`/`__context__` chain is inspected), `context_exceeded` whether the sender already
    knows that the prompt did not fit.
    """
    error = _classify(message, where, status, code, cause, context_exceeded)
    error.retry_after_s = retry_after_s
    return error


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The wait a provider asked for, in seconds: `retry-after-ms` (OpenAI's), else `Retry-After` in seconds or as
    an HTTP date; None when absent or unreadable. `headers` must look names up case-insensitively (httpx's do)."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = (headers.get(name) or "").strip()
        if not value:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def _classify(
    message: str,
    where: str,
    status: int | None,
    code: object,
    cause: BaseException | None,
    context_exceeded: bool,
) -> LLMError:
    import httpx
    import openai

    chain = _chain(cause)
    message = message[:500]

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    if has(json.JSONDecodeError, UnicodeDecodeError):
        return MalformedResponse(f"provider returned invalid JSON: {message}", where=where)
    if has(openai.APITimeoutError, httpx.TimeoutException, TimeoutError):
        return LLMTimeout(message, where=where)
    if context_exceeded or (
        status in (400, 413, 422) and (code == "context_length_exceeded" or _CONTEXT_PHRASES.search(message))
    ):
        return ContextTooLong(message, where=where, status=status)
    if status in _BY_STATUS:
        return _BY_STATUS[status](message, where=where, status=status)
    if has(openai.APIConnectionError, httpx.TransportError, ConnectionError):
        return ConnectionFailed(message, where=where)
    if isinstance(status, int) and status >= 500:
        return ServerError(message, where=where, status=status)
    if isinstance(status, int) and 400 <= status < 500:
        return BadRequest(message, where=where, status=status)
    name = f"{type(cause).__name__}: " if cause is not None else ""
    return ProviderError(f"{name}{message}", where=where, status=status)


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    current = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
