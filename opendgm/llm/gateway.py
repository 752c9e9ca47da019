"""The Gateway: the only way a sandbox reaches a model (invariant 1).

An OpenAI-compatible endpoint (`POST /v1/chat/completions`, `GET /v1/models`) on a host unix socket
that sandboxes mount at /run/opendgm/gateway.sock. Each sandbox holds its own bearer token, bound to a
node and a role; the gateway authenticates it, sends the call through the Router (which meters it
against that node's budget and records it), and keeps every API key on the host.

Status codes: 401 unknown/missing token; 400 bad request or context too long; 402 budget exceeded
(deliberately not 429: OpenAI-style clients retry 429 automatically, and a spent budget does not come
back by waiting); 502 the upstream refused or answered garbage (bad key, unknown model, malformed);
503 the upstream kept failing after the host's own retries; 500 anything else. Error bodies follow
OpenAI's `{"error": {"message", "type", "code"}}`. Streaming and `n > 1` are not offered.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import socketserver
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from opendgm.llm.errors import (
    BadRequest,
    BudgetExceeded,
    ContextTooLong,
    LLMError,
    ProviderError,
    RetriesExhausted,
    TransientLLMError,
)
from opendgm.llm.router import Router

log = logging.getLogger(__name__)

# Request fields forwarded to the model; `model` is ignored (the token decides the role).
FORWARDED = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "tools",
        "tool_choice",
        "response_format",
    }
)
_IGNORED = frozenset({"model", "messages", "stream", "n", "user"})
_MAX_BODY = 16 * 1024 * 1024
_STATUS: list[tuple[type[LLMError], int]] = [
    (BudgetExceeded, 402),
    (ContextTooLong, 400),
    (BadRequest, 400),
    (ProviderError, 502),
    (RetriesExhausted, 503),
    (TransientLLMError, 503),
]


@dataclass(frozen=True)
class Grant:
    """What a token may do: call `role`, billed to `node`, recorded with `purpose`."""

    node: str
    role: str
    purpose: str


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(path, _Handler)


class _HTTPError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._serve(self._models, "/v1/models")

    def do_POST(self) -> None:
        self._serve(self._chat, "/v1/chat/completions")

    def _serve(self, endpoint: Callable[[Grant, bytes], dict[str, Any]], path: str) -> None:
        try:
            body = self._read_body()
            if self.path.split("?")[0] != path:
                raise _HTTPError(404, "not_found", f"no route {self.command} {self.path}")
            self._reply(200, endpoint(self._authorize(), body))
        except _HTTPError as exc:
            self._fail(exc.status, exc.kind, exc.message)
        except LLMError as exc:
            status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
            kind = "context_length_exceeded" if isinstance(exc, ContextTooLong) else _snake(type(exc).__name__)
            self._fail(status, kind, str(exc))
        except Exception as exc:  # a bug must still reach the sandbox as an answer, and the host log
            log.exception("gateway: unexpected error")
            self._fail(500, "internal", f"gateway error: {exc!r}")

    def _fail(self, status: int, kind: str, message: str) -> None:
        message = self.server.gateway.redact(message)
        self._reply(status, {"error": {"message": message, "type": kind, "code": kind}})

    def _read_body(self) -> bytes:
        """Always consume the body, so a keep-alive connection stays in step even after an error."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self.close_connection = True
            raise _HTTPError(413, "too_large", f"request body over {_MAX_BODY} bytes")
        return self.rfile.read(length) if length else b""

    def _authorize(self) -> Grant:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        grant = self.server.gateway.grant(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None:
            raise _HTTPError(401, "invalid_token", "missing or unknown gateway token (Authorization: Bearer ...)")
        return grant

    def _models(self, grant: Grant, _body: bytes) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": grant.role, "object": "model", "owned_by": "opendgm"}]}

    def _chat(self, grant: Grant, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _HTTPError(400, "invalid_json", f"request body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise _HTTPError(400, "invalid_json", "request body must be a JSON object")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _HTTPError(400, "invalid_request", "`messages` must be a non-empty list")
        if body.get("stream") or body.get("n", 1) != 1:
            raise _HTTPError(400, "invalid_request", "streaming and n > 1 are not supported by the gateway")
        unknown = set(body) - FORWARDED - _IGNORED
        if unknown:
            raise _HTTPError(
                400,
                "invalid_request",
                f"unsupported fields {sorted(unknown)}; supported: {sorted(FORWARDED)}",
            )
        params = {k: v for k, v in body.items() if k in FORWARDED}
        router = self.server.gateway.router
        return router.complete(grant.role, messages, node=grant.node, purpose=grant.purpose, **params).response

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self) -> str:
        return "sandbox"  # unix sockets have no peer address

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("gateway: " + format, *args)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class Gateway:
    """Serves the Router to sandboxes over a unix socket; use as a context manager or start()/stop()."""

    def __init__(self, router: Router, socket_path: Path) -> None:
        self.router = router
        self.socket_path = Path(socket_path)
        self._grants: dict[str, Grant] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def issue_token(self, node: str, role: str, purpose: str = "agent") -> str:
        """A fresh secret token for one sandbox: its calls go to `role` and are billed to `node`."""
        if role not in self.router.roles:
            raise ValueError(f"unknown role {role!r}; configured roles: {', '.join(sorted(self.router.roles))}")
        token = secrets.token_urlsafe(32)
        self._grants[token] = Grant(node=node, role=role, purpose=purpose)
        return token

    def revoke(self, token: str) -> None:
        self._grants.pop(token, None)

    def grant(self, token: str) -> Grant | None:
        return self._grants.get(token)

    def redact(self, text: str) -> str:
        """Blank out the host's API keys in text bound for a sandbox (some providers echo keys in errors)."""
        for role in self.router.roles.values():
            key = os.environ.get(role.api_key_env) if role.api_key_env else None
            if key:
                text = text.replace(key, "[redacted]")
        return text

    def start(self) -> Gateway:
        if self._server is not None:
            return self
        self._claim_socket_path()
        self._server = _Server(str(self.socket_path), self)
        # The sandbox user (uid 1000) must be able to connect; the token is the authentication.
        os.chmod(self.socket_path, 0o666)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="opendgm-gateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self.socket_path.unlink(missing_ok=True)
        self._server = self._thread = None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _claim_socket_path(self) -> None:
        """Create the parent; remove a stale socket of ours; refuse anything else (invariant 6)."""
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        if not self.socket_path.exists():
            return
        if not stat.S_ISSOCK(self.socket_path.stat().st_mode):
            raise FileExistsError(f"{self.socket_path} exists and is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.socket_path))
        except OSError:
            self.socket_path.unlink()  # nobody listens: a leftover of a crashed run
        else:
            raise FileExistsError(f"{self.socket_path} is in use by a live server")
        finally:
            probe.close()
