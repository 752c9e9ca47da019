"""A scriptable fake OpenAI-compatible provider on 127.0.0.1, and the constants the tests share."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from opendgm.llm import RetryPolicy, RoleConfig
from opendgm.llm.provider import count_tokens

if TYPE_CHECKING:
    from tests.support.cache_fakes import OpenAICache

SECRET_ENV = "FAKE_PROVIDER_API_KEY"
SECRET = "sk-test-secret"
MESSAGES = [{"role": "user", "content": "Say hello."}]
# Fast backoff so retry tests take milliseconds; three attempts in all.
FAST_RETRY = RetryPolicy(attempts=3, initial_s=0.01, max_s=0.02, jitter_s=0.01)


def completion(content: str | None = "hello", prompt_tokens: int = 5, completion_tokens: int = 1) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@dataclass
class Reply:
    """One scripted answer: a status and a JSON body, raw bytes, or a hang of `hang_s` seconds; extra headers."""

    status: int = 200
    body: Any = field(default_factory=completion)
    raw: bytes | None = None
    hang_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, message: str = "scripted failure", code: str | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "fake", "code": code}})


class FakeProvider:
    """An OpenAI-compatible server that answers from a script, then with `default`.

    With `require_key`, a request without `Authorization: Bearer <SECRET>` gets 401, like a real API. With a
    `prompt_cache` (`cache_fakes.OpenAICache`), a successful answer reports the usage that cache bills.
    """

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.default = Reply()
        self.require_key = False
        self.prompt_cache: OpenAICache | None = None
        self.requests: list[dict[str, Any]] = []
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def count(self) -> int:
        return len(self.requests)

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append({"headers": headers, "body": body, "at": time.monotonic()})
            return self._answer(headers, body)

    def _answer(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        """The reply to one request (under the lock)."""
        if self.require_key and headers.get("authorization") != f"Bearer {SECRET}":
            return error(401, "invalid api key")
        reply = self.script.pop(0) if self.script else self.default
        if self.prompt_cache is not None and reply.status == 200 and isinstance(reply.body, dict):
            completion_tokens = (reply.body.get("usage") or {}).get("completion_tokens", 0)
            reply = replace(reply, body=reply.body | {"usage": self.prompt_cache.usage(body, completion_tokens)})
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                reply = fake._next({k.lower(): v for k, v in self.headers.items()}, body)
                if reply.hang_s:
                    fake._release.wait(reply.hang_s)
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                # Headers and body in one write: two small writes meet delayed ACKs and cost 40 ms.
                self._headers_buffer.append(b"\r\n" + data)
                self.flush_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def reserved_for(role: RoleConfig) -> tuple[float, int]:
    """What the Router reserves for MESSAGES on `role`: the counted prompt plus the whole max_tokens."""
    tokens = count_tokens(role.model, MESSAGES) + role.max_tokens
    return role.price.cost(tokens, 0), tokens


def one_call_usd(role: RoleConfig) -> float:
    """A USD limit with room for one call's reservation, but not for a second after the first's spend
    (a default fake completion: 5 prompt + 1 completion tokens)."""
    return reserved_for(role)[0] + role.price.cost(5, 1) / 2


def closed_url() -> str:
    """A loopback base URL where nobody listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
