"""Talk to the opendgm model gateway from inside a sandbox. Standard library only.

This file is copied next to agents, so it imports nothing from opendgm or third parties. The socket and
the token come from the environment the sandbox sets (OPENDGM_GATEWAY_SOCKET, OPENDGM_GATEWAY_TOKEN).

    from gateway_client import chat
    reply = chat([{"role": "user", "content": "hi"}], max_tokens=64)
    print(reply["choices"][0]["message"]["content"])

Smoke test: python3 gateway_client.py "Say hi"
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
from typing import Any

SOCKET_ENV = "OPENDGM_GATEWAY_SOCKET"
TOKEN_ENV = "OPENDGM_GATEWAY_TOKEN"
DEFAULT_SOCKET = "/run/opendgm/gateway.sock"


class GatewayError(RuntimeError):
    """The gateway answered with an error (or not at all). `status` is 0 when it could not be reached."""

    def __init__(self, status: int, message: str, kind: str | None = None) -> None:
        super().__init__(f"gateway HTTP {status}: {message}" if status else f"gateway unreachable: {message}")
        self.status = status
        self.kind = kind


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def request(method: str, path: str, payload: dict[str, Any] | None = None, timeout: float = 900.0) -> dict:
    """One HTTP/1.1 request to the gateway; the decoded JSON on 200, `GatewayError` otherwise."""
    socket_path = os.environ.get(SOCKET_ENV, DEFAULT_SOCKET)
    headers = {"Authorization": f"Bearer {os.environ.get(TOKEN_ENV, '')}", "Content-Type": "application/json"}
    body = json.dumps(payload).encode() if payload is not None else None
    conn = UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        status, raw = response.status, response.read()
    except OSError as exc:
        raise GatewayError(0, f"{socket_path}: {exc}") from exc
    finally:
        conn.close()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise GatewayError(status, f"non-JSON answer: {raw[:200]!r}") from exc
    if status != 200:
        error = data.get("error") or {}
        raise GatewayError(status, error.get("message") or repr(data), error.get("type"))
    return data


def chat(messages: list[dict[str, Any]], **params: Any) -> dict:
    """An OpenAI-format chat completion (the whole response dict). The gateway decides the model."""
    return request("POST", "/v1/chat/completions", {"messages": messages, **params})


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print('usage: python3 gateway_client.py "prompt"', file=sys.stderr)
        return 2
    try:
        reply = chat([{"role": "user", "content": argv[1]}], max_tokens=64)
    except GatewayError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(reply["choices"][0]["message"]["content"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
