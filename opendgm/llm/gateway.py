"""The Gateway: the only way a sandbox reaches a model (invariant 1: no secret in a sandbox).

An OpenAI-compatible endpoint (`POST /v1/chat/completions`, `GET /v1/models`) on a host unix socket that
sandboxes mount at /run/opendgm/gateway.sock. Each sandbox holds its own bearer token, bound to a node, a role
and optionally a deadline; the gateway authenticates it (before reading any body), checks every field of the
request (`chat_request.py`: only what agents need is forwarded), sends the call through the Router (which meters
it against that node's budget and records it), and keeps every API key on the host. A token can have a socket of
its own (`socket_for`), which only its sandbox sees: what one sandbox does to its socket reaches no other. The
bounds on connections, sizes and read times are `GatewayLimits` (`gateway_http.py`).

For the host to tell an infrastructure failure from the agent's own (issue 13), the gateway keeps a
`TokenRecord` per token: what its requests met, one line per failure of the model service, the budget or the
host, never the agent's own 4xx.

Status codes: 401 unknown/missing token, or a token on another token's socket; 400 a field the gateway does not
forward, or context too long; 402 budget exceeded (deliberately not 429: OpenAI-style clients retry 429
automatically, and a spent budget does not come back by waiting); 404 no such route; 408 a head or body too slow;
413 a body too large; 429 too many requests of this token in service at once; 502 the upstream refused or
answered garbage (bad key, unknown model, malformed); 503 the upstream kept failing after the host's own retries
(`retries_exhausted`), no answer before the token's deadline (`model_timeout`), or too many open connections
(`gateway_busy`); 500 anything else. Error bodies follow OpenAI's `{"error": {"message", "type", "code"}}`.
Streaming and `n > 1` are not offered.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from opendgm.llm import chat_request
from opendgm.llm.errors import (
    BadRequest,
    BudgetExceeded,
    ContextTooLong,
    InvalidRequest,
    LLMError,
    ModelTimeout,
    ProviderError,
    RetriesExhausted,
    TransientLLMError,
)
from opendgm.llm.gateway_http import Answer, GatewayLimits, HTTPServer, Listener, Refused, Request
from opendgm.llm.router import Router

log = logging.getLogger(__name__)

_LINE = 500  # characters kept of one failure in a token's record
CHAT = ("POST", "/v1/chat/completions")
MODELS = ("GET", "/v1/models")
_STATUS: list[tuple[type[LLMError], int]] = [
    (BudgetExceeded, 402),
    (InvalidRequest, 400),
    (ContextTooLong, 400),
    (BadRequest, 400),
    (ProviderError, 502),
    (RetriesExhausted, 503),
    (ModelTimeout, 503),
    (TransientLLMError, 503),
]


@dataclass(frozen=True)
class Grant:
    """What a token may do: call `role`, billed to `node`, recorded with `purpose`, until `deadline` (a
    `time.monotonic()` value; None: the retry policy alone bounds a call)."""

    node: str
    role: str
    purpose: str
    deadline: float | None = None


@dataclass(frozen=True)
class TokenRecord:
    """What one token's requests met, for the host to decide "infrastructure or agent" without trusting the agent."""

    requests: int = 0  # chat requests authenticated with this token
    served: int = 0  # answered 200
    infra_failures: tuple[str, ...] = ()  # one line per request failed for a model-service / budget / host reason
    hung: bool = False  # one of those failures was the provider not answering (`LLMError.hung`)
    budget_refused: bool = False
    in_flight_at_revoke: int = 0  # calls still waiting on the upstream when the token was revoked
    wait_s: float = 0.0  # total seconds spent waiting on the upstream


@dataclass
class _Usage:
    """A token's running tally (under the gateway's lock)."""

    requests: int = 0
    served: int = 0
    infra_failures: list[str] = field(default_factory=list)
    hung: bool = False
    budget_refused: bool = False
    in_flight_at_revoke: int = 0
    wait_s: float = 0.0
    in_service: int = 0  # requests admitted and not yet answered
    in_flight: int = 0  # of which waiting on the Router


@dataclass(frozen=True)
class _OwnSocket:
    path: Path
    listener: Listener


class Gateway:
    """Serves the Router to sandboxes over unix sockets; use as a context manager or start()/stop()."""

    def __init__(self, router: Router, socket_path: Path, limits: GatewayLimits | None = None) -> None:
        self.router = router
        self.socket_path = Path(socket_path)
        self.limits = limits or GatewayLimits()
        self._grants: dict[str, Grant] = {}
        self._usage: dict[str, _Usage] = {}
        self._own_sockets: dict[str, _OwnSocket] = {}
        self._lock = threading.Lock()
        self._http: HTTPServer | None = None

    # -- tokens ---------------------------------------------------------------------------------------------

    def issue_token(self, node: str, role: str, purpose: str = "agent", deadline_s: float | None = None) -> str:
        """A fresh secret token for one sandbox: its calls go to `role` and are billed to `node`. With
        `deadline_s`, the gateway stops retrying upstream for its calls that many seconds from now and answers
        503 `model_timeout`: a hung provider never outlives the agent's own time limit."""
        if role not in self.router.roles:
            raise ValueError(f"unknown role {role!r}; configured roles: {', '.join(sorted(self.router.roles))}")
        if deadline_s is not None and not deadline_s > 0:
            raise ValueError(f"deadline_s must be a positive number of seconds, got {deadline_s!r}")
        token = secrets.token_urlsafe(32)
        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        with self._lock:
            self._grants[token] = Grant(node=node, role=role, purpose=purpose, deadline=deadline)
            self._usage[token] = _Usage()
        return token

    def socket_for(self, token: str) -> Path:
        """A socket that serves only `token` (made on first use, removed when the token is revoked): mounted
        into the token's sandbox instead of the shared socket, so that its connections are its own."""
        with self._lock:
            if token not in self._grants:
                raise KeyError("unknown or revoked gateway token")
            if token in self._own_sockets:
                return self._own_sockets[token].path
        if self._http is None:
            raise RuntimeError("the gateway is not started")
        path = self.socket_path.parent / f"t-{secrets.token_hex(6)}.sock"
        listener = self._http.listen(_bound(path), self.limits.connections_per_token, token)
        with self._lock:
            self._own_sockets[token] = _OwnSocket(path, listener)
        return path

    def revoke(self, token: str) -> None:
        """The token is refused from now on, and its own socket closed; its record stays."""
        with self._lock:
            self._grants.pop(token, None)
            usage = self._usage.get(token)
            if usage is not None:
                usage.in_flight_at_revoke = usage.in_flight
            own = self._own_sockets.pop(token, None)
        if own is not None and self._http is not None:
            self._http.close_listener(own.listener)
            own.path.unlink(missing_ok=True)

    def grant(self, token: str) -> Grant | None:
        with self._lock:
            return self._grants.get(token)

    def record(self, token: str) -> TokenRecord:
        """What `token`'s requests met so far, revoked or not, stopped or not (KeyError for a token this gateway
        never issued)."""
        with self._lock:
            usage = self._usage[token]
            return TokenRecord(
                requests=usage.requests,
                served=usage.served,
                infra_failures=tuple(usage.infra_failures),
                hung=usage.hung,
                budget_refused=usage.budget_refused,
                in_flight_at_revoke=usage.in_flight_at_revoke,
                wait_s=usage.wait_s,
            )

    def redact(self, text: str) -> str:
        """Blank out the host's API keys in text bound for a sandbox (some providers echo keys in errors)."""
        for role in self.router.roles.values():
            key = os.environ.get(role.api_key_env) if role.api_key_env else None
            if key:
                text = text.replace(key, "[redacted]")
        return text

    # -- life cycle -----------------------------------------------------------------------------------------

    def start(self) -> Gateway:
        if self._http is not None:
            return self
        self._claim_socket_path()
        sock = _bound(self.socket_path)
        self._http = HTTPServer(self, self.limits)
        self._http.listen(sock, self.limits.connections)
        return self

    def stop(self) -> None:
        """Close every socket and connection; calls still waiting on a provider end on their own."""
        if self._http is None:
            return
        self._http.stop()
        self._http = None
        with self._lock:  # the records stay: the host reads the last runs' after the gateway stopped
            own, self._own_sockets = list(self._own_sockets.values()), {}
            self._grants.clear()
        for path in [self.socket_path, *(o.path for o in own)]:
            path.unlink(missing_ok=True)

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _claim_socket_path(self) -> None:
        """Create the parent; remove a stale socket of ours; refuse anything else (invariant 6: only our own
        containers and files)."""
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

    # -- answering (the `gateway_http.Handler` protocol) ------------------------------------------------------

    def admit(self, request: Request) -> Answer | None:
        token = request.token or ""
        grant = self.grant(token) if token else None
        if grant is None or request.socket_token not in (None, token):
            raise Refused(
                401, "invalid_token", "missing or unknown gateway token (Authorization: Bearer ...)", close=True
            )
        route = (request.method, request.path)
        if route == MODELS:
            return Answer(
                200, {"object": "list", "data": [{"id": grant.role, "object": "model", "owned_by": "opendgm"}]}
            )
        if route != CHAT:
            raise Refused(404, "not_found", f"no route {request.method} {request.path}", close=True)
        cap = self.limits.connections_per_token
        with self._lock:
            usage = self._usage[token]
            usage.requests += 1
            if usage.in_service >= cap:
                raise Refused(
                    429, "too_many_connections", f"this token already has {cap} requests in service", close=True
                )
            usage.in_service += 1
        request.admitted = True
        return None

    def respond(self, request: Request, body: bytes) -> Answer:
        grant = self.grant(request.token or "")
        if grant is None:  # revoked while its body was on the way
            return Refused(401, "invalid_token", "the gateway token was revoked", close=True).answer
        try:
            chat = chat_request.parse(_json(body), self.router.roles[grant.role].max_tokens)
            with self._waiting(request.token or ""):
                completion = self.router.complete(
                    grant.role,
                    chat.messages,
                    node=grant.node,
                    purpose=grant.purpose,
                    deadline=grant.deadline,
                    **chat.params,
                )
            self._tally(request.token, served=True)
            return Answer(200, completion.response)
        except Refused as refused:
            return refused.answer
        except LLMError as exc:
            status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
            kind = "context_length_exceeded" if isinstance(exc, ContextTooLong) else _snake(type(exc).__name__)
            answer = self._failure(status, kind, str(exc))
            if exc.infrastructure:
                budget = isinstance(exc, BudgetExceeded)
                self._tally(request.token, infra=f"{status} {kind}: {exc}", budget=budget, hung=exc.hung)
            return answer
        except (OSError, sqlite3.Error) as exc:  # the host failed (a full disk under the ledger): one line, no trace
            log.warning("gateway: host failure: %s", exc)
            self._tally(request.token, infra=f"500 host: {exc}")
            return self._failure(500, "host", f"gateway host failure: {exc}")
        except Exception as exc:  # a bug must still reach the sandbox as an answer, and the host log
            log.exception("gateway: unexpected error")
            self._tally(request.token, infra=f"500 internal: {exc!r}")
            return self._failure(500, "internal", f"gateway error: {exc!r}")

    def finish(self, request: Request, answer: Answer | None) -> None:
        with self._lock:
            usage = self._usage.get(request.token or "")
            if usage is not None:
                usage.in_service -= 1

    def _failure(self, status: int, kind: str, message: str) -> Answer:
        message = self.redact(message)
        return Answer(status, {"error": {"message": message, "type": kind, "code": kind}})

    def _tally(
        self, token: str | None, *, served: bool = False, infra: str = "", budget: bool = False, hung: bool = False
    ) -> None:
        with self._lock:
            usage = self._usage.get(token or "")
            if usage is None:  # the gateway stopped while the call was out
                return
            usage.served += served
            if infra:
                usage.infra_failures.append(self.redact(infra)[:_LINE])
            usage.budget_refused |= budget
            usage.hung |= hung

    @contextmanager
    def _waiting(self, token: str) -> Iterator[None]:
        """Count a call waiting on the Router (for `in_flight_at_revoke` and `wait_s`)."""
        started = time.monotonic()
        with self._lock:
            usage = self._usage[token]
            usage.in_flight += 1
        try:
            yield
        finally:
            with self._lock:  # the tally of a stopped gateway is gone: updating it is harmless
                usage.in_flight -= 1
                usage.wait_s += time.monotonic() - started


def _json(body: bytes) -> object:
    try:
        return json.loads(body, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        raise Refused(400, "invalid_json", f"request body is not JSON: {exc}") from exc


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


def _bound(path: Path) -> socket.socket:
    """A unix socket bound at `path`, connectable by the sandbox's user (the token is the authentication)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o666)
    except BaseException:
        sock.close()
        raise
    return sock


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
