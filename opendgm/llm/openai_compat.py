"""The direct path to self-hosted OpenAI-compatible servers (llama.cpp, vLLM, Ollama's /v1, ...).

A role with an `api_base` and an `openai/<name>` model talks to a server that already speaks the request's
format, so there is nothing for litellm to translate: its per-call work (parameter mapping, response
objects, logging hooks, ~3-4 ms of Python) would be the largest cost of a call to a small local model.
Such a request goes out as it is (model name without the `openai/` prefix) over one kept-alive httpx
connection pool per server, and the answer comes back as the server's JSON. Hosted providers keep going
through litellm (`provider.py`); failures are classified the same way on both paths (`failures.py`).
"""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any

from opendgm.llm.errors import MalformedResponse
from opendgm.llm.failures import classify, retry_after
from opendgm.llm.roles import RoleConfig

if TYPE_CHECKING:
    import httpx  # imported where a request is sent: a second or so that commands without a model call skip

PREFIX = "openai/"

_endpoints: dict[tuple[int, str], tuple[httpx.Client, httpx.URL]] = {}
_endpoints_lock = threading.Lock()


def handles(role: RoleConfig) -> bool:
    """Whether `role` is sent by this path rather than by litellm."""
    return role.api_base is not None and role.model.startswith(PREFIX)


def send(role: RoleConfig, request: dict[str, Any], api_key: str, where: str, timeout_s: float) -> dict[str, Any]:
    """One attempt, silent for at most `timeout_s`: the server's OpenAI-format response, or a classified `LLMError`."""
    assert role.api_base is not None  # checked by `handles`
    body = {**request, "model": request["model"].removeprefix(PREFIX)}
    try:
        client, url = _endpoint(role.api_base)
        response = client.post(
            url,
            content=json.dumps(body),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            timeout=timeout_s,
        )
    except Exception as exc:  # timeouts, refused or dropped connections, a body JSON cannot carry, ...
        raise classify(str(exc), where, cause=exc) from exc
    if not response.is_success:
        message, code = _error_of(response)
        raise classify(
            message, where, status=response.status_code, code=code, retry_after_s=retry_after(response.headers)
        )
    try:
        answer = json.loads(response.content)
    except ValueError as exc:
        raise classify(str(exc), where, cause=exc) from exc
    if not isinstance(answer, dict):
        raise MalformedResponse(f"provider answered a JSON {type(answer).__name__}, not an object", where=where)
    return answer


def _endpoint(api_base: str) -> tuple[httpx.Client, httpx.URL]:
    """The connection pool for `api_base` and its chat URL (parsed once: URL parsing is a tenth of httpx's
    per-call work), created once per process (a forked child must not share its parent's sockets)."""
    import httpx

    key = (os.getpid(), api_base)
    with _endpoints_lock:
        if key not in _endpoints:
            # The OpenAI SDK's limits (many sandboxes may call one server at once); idle connections are dropped
            # before the common servers' 5 s keep-alive (uvicorn's) closes them under a request.
            limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=4.0)
            _endpoints[key] = httpx.Client(limits=limits), httpx.URL(f"{api_base.rstrip('/')}/chat/completions")
        return _endpoints[key]


def _error_of(response: httpx.Response) -> tuple[str, object]:
    """The provider's error message and code, from OpenAI's `{"error": {...}}` or the usual variants."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}", None
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        return str(error.get("message") or error.get("detail") or body), error.get("code")
    return str(error), None
