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
import queue
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


class _Server(socketserver.UnixStreamServer):
    """Serves each connection on a daemon thread of its own, as `ThreadingMixIn` does, but hands it to a thread
    whose last connection has ended if there is one. Starting a thread per connection cost ~0.7 of the ~3 ms the
    gateway added on two busy cores (benchmarks/gateway_overhead.py). No bound: no connection waits for another.
    """

    def __init__(self, path: str, gateway: Gateway) -> None:
        self.gateway = gateway
        self._connections: queue.SimpleQueue[tuple[socket.socket, Any] | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # one token per worker that finished a connection and waits for more
        self._workers = 0  # only the serving thread starts workers, and `server_close` runs after it stopped
        super().__init__(path, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._connections.put((request, client_address))
        if not self._idle.acquire(blocking=False):
            threading.Thread(target=self._work, name="opendgm-gateway-conn", daemon=True).start()
            self._workers += 1

    def _work(self) -> None:
        while (connection := self._connections.get()) is not None:
            request, client_address = connection
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
            self._idle.release()

    def server_close(self) -> None:
        super().server_close()
        for _ in range(self._workers):  # each worker exits at one of these, after the connections queued before
            self._connections.put(None)
        self._workers = 0


class _HTTPError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffered: status line, headers and body leave in one write when `handle_one_request` flushes after each
    # request, instead of one write for the headers and another for the body (two wake-ups of the client).
    wbufsize = 64 * 1024
    server: _Server

    def handle_expect_100(self) -> bool:
        accepted = super().handle_expect_100()
        self.wfile.flush()  # the client sends the body only once this interim answer has reached it
        return accepted

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
        # The role's max_tokens is a cap for sandboxed callers: an agent may ask for less, never for more.
        cap = router.roles[grant.role].max_tokens
        for key in ("max_tokens", "max_completion_tokens"):
            if isinstance(params.get(key), int):
                params[key] = min(params[key], cap)
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
