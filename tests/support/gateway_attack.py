"""What the gateway attacks share: a priced role on the fake provider, and raw HTTP over the gateway's socket
(the way hostile sandboxed code would talk to it, not through the polite stdlib client)."""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path
from typing import Any

from opendgm.llm import Price, RoleConfig, Router
from opendgm.llm.gateway_client import UnixHTTPConnection
from tests.support.llm_fakes import FAST_RETRY, FakeProvider

CHAT = "/v1/chat/completions"


def fake_role(provider: FakeProvider, **overrides: Any) -> RoleConfig:
    """A role on the fake provider at $0.001 a token, capped at 10 completion tokens; fields overridable."""
    fields = {
        "model": "openai/fake",
        "api_base": provider.base_url,
        "max_tokens": 10,
        "price": Price(prompt=1000, completion=1000),
        "timeout_s": 5,
    }
    return RoleConfig(**(fields | overrides))


def router_for(provider: FakeProvider, role: RoleConfig | None = None, **kwargs: Any) -> Router:
    return Router({"agent": role or fake_role(provider)}, **({"retry": FAST_RETRY} | kwargs))


def post(socket_path: Path, token: str, body: dict[str, Any] | bytes, timeout: float = 60) -> tuple[int, dict]:
    """One chat request over `socket_path`; the status and the decoded JSON answer."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn = UnixHTTPConnection(str(socket_path), timeout=timeout)
    try:
        conn.request("POST", CHAT, body=raw, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def post_unanswered(socket_path: Path, token: str, body: dict[str, Any] | bytes) -> None:
    """A call that may never be answered (the gateway stops while it is held upstream): nothing to check."""
    with contextlib.suppress(OSError):
        post(socket_path, token, body)


def connect(socket_path: Path, timeout: float = 5) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    client.connect(str(socket_path))
    return client


def head(token: str | None, length: int, extra: str = "") -> bytes:
    """A chat request's head announcing a body of `length` bytes (with the token, if any)."""
    auth = f"Authorization: Bearer {token}\r\n" if token is not None else ""
    return (
        f"POST {CHAT} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


def answer(client: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection or goes quiet for the socket's timeout."""
    data = b""
    try:
        while chunk := client.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def status_of(data: bytes) -> int | None:
    """The status code of the first HTTP answer in `data`, or None when there is none."""
    if not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data.split(b" ", 2)[1])
