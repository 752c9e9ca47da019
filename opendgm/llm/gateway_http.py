"""HTTP/1.1 for the gateway, with every bound a hostile client needs: asyncio connections, h11 for the protocol.

One event-loop thread holds every connection, so an idle or slow one costs a few kilobytes, never a thread. For
each request the head is read first (bounded in size and in time), the token it carries is checked, and only
then is a body read: bounded in size (a length over the limit is refused as announced; a chunked body is cut at
the limit) and in time. A refused request's body is never kept: what the client still sends is dropped for a
moment, so that it reads the answer rather than a broken pipe. A socket accepts a bounded number of
connections, and a token may have a bounded number of requests in service, so one sandbox cannot exhaust the
host or make another sandbox's calls fail; each sandbox's token can have a socket of its own (see
`Gateway.socket_for`), so even a flood of connections without a token reaches no one else. The answer itself is
computed by the `Handler` on a worker thread, since a model call blocks for as long as the model takes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

import h11
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

_BACKLOG = 1024  # connects wait in the kernel rather than fail (the kernel caps it at net.core.somaxconn)
_CHUNK = 16 * 1024  # also the StreamReader's limit: a connection buffers at most ~2 chunks unread
# After an answer that did not read its request's body, the client may still be sending it: up to this much of it
# is read (and dropped) for up to this long, so that the client gets to read the answer instead of a broken pipe.
_LINGER_BYTES = 1024 * 1024
_LINGER_S = 2.0


class GatewayLimits(BaseModel):
    """What one client may take of the gateway. The defaults leave real agents room and attackers none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0, description="Largest request body (a long conversation).")
    max_head_bytes: int = Field(64 * 1024, gt=0, description="Largest request line and headers.")
    connections: int = Field(512, gt=0, description="Open connections on the shared socket.")
    connections_per_token: int = Field(
        16, gt=0, description="Open connections on a token's own socket, and requests in service per token."
    )
    head_timeout_s: float = Field(
        10, gt=0, description="Time for a request's head, from connect or from the previous answer."
    )
    body_timeout_s: float = Field(60, gt=0, description="Time for a request's body, from the end of its head.")
    write_timeout_s: float = Field(60, gt=0, description="Time for an answer to leave, for a client that reads.")


@dataclass(frozen=True)
class Answer:
    """A status and a JSON payload; `close` ends the connection after it (its request's body was not read)."""

    status: int
    payload: dict[str, Any]
    close: bool = False


class Refused(Exception):
    """Answer with an error now: OpenAI's `{"error": {"message", "type", "code"}}` shape."""

    def __init__(self, status: int, kind: str, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.answer = Answer(status, {"error": {"message": message, "type": kind, "code": kind}}, close)


@dataclass
class Request:
    """A request whose head has arrived; `socket_token` is the token its socket is reserved for, if any."""

    method: str
    path: str
    token: str | None
    socket_token: str | None
    admitted: bool = False


class Handler(Protocol):
    def admit(self, request: Request) -> Answer | None:
        """Right after the head: an answer that needs no body (a refusal, the model list), or None to read the
        body and `respond` (then `request.admitted` is set and `finish` will follow). Runs on the loop: quick."""
        ...

    def respond(self, request: Request, body: bytes) -> Answer:
        """The answer to an admitted request; runs on a worker thread, for as long as it takes."""
        ...

    def finish(self, request: Request, answer: Answer | None) -> None:
        """An admitted request has been answered with `answer` (None: the client went away first)."""
        ...


class Listener:
    """One listening socket and its connections. `token`: reserved for that token's requests."""

    def __init__(self, sock: socket.socket, capacity: int, token: str | None) -> None:
        self.sock, self.capacity, self.token = sock, capacity, token
        self.open = 0
        self.server: asyncio.AbstractServer


class HTTPServer:
    """The event loop (on its own thread) that serves every listener of one gateway."""

    def __init__(self, handler: Handler, limits: GatewayLimits) -> None:
        self.handler, self.limits = handler, limits
        self.workers = Workers()
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Listener] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="opendgm-gateway", daemon=True)
        self._thread.start()

    def listen(self, sock: socket.socket, capacity: int, token: str | None = None) -> Listener:
        """Serve `sock` (bound, not yet listening) from now on."""
        listener = Listener(sock, capacity, token)

        async def start() -> None:
            listener.server = await asyncio.start_unix_server(
                lambda reader, writer: self._connection(listener, reader, writer),
                sock=sock,
                backlog=_BACKLOG,
                limit=_CHUNK,
            )
            self._listeners.append(listener)

        asyncio.run_coroutine_threadsafe(start(), self._loop).result()
        return listener

    def close_listener(self, listener: Listener) -> None:
        """Accept no more connections on `listener`; those open finish their requests."""

        def close() -> None:  # on the loop's thread, like every change to the list of listeners
            if listener in self._listeners:
                self._listeners.remove(listener)
                listener.server.close()

        self._loop.call_soon_threadsafe(close)

    def stop(self) -> None:
        """Close every listener and connection, then the loop; calls still running end on their own."""

        async def shutdown() -> None:
            for listener in self._listeners:
                listener.server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self.workers.close()

    async def _connection(self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if listener.open >= listener.capacity:
            busy = Refused(503, "gateway_busy", "too many open connections on this socket")
            writer.write(_raw(busy.answer))  # at once, without reading: the client learns why instead of waiting
            writer.close()
            return
        listener.open += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await _Connection(self, listener, reader, writer).serve()
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass  # the client went away, did not read its answer in time, or the gateway stops
        except Exception:  # a bug must not take the loop down with it
            log.exception("gateway: connection failed")
        finally:
            listener.open -= 1
            self._tasks.discard(task)
            writer.close()


class _Connection:
    """One client connection: requests one after another (keep-alive), each within the limits."""

    def __init__(
        self, server: HTTPServer, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server, self.listener, self.reader, self.writer = server, listener, reader, writer
        self.limits = server.limits
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head_bytes)
        self.received = 0  # bytes of the current request so far

    async def serve(self) -> None:
        while True:
            self.received = 0
            try:
                async with asyncio.timeout(self.limits.head_timeout_s):
                    head = await self._next_event()
            except TimeoutError:
                if self.received:  # a head begun and never finished; an idle connection just closes
                    await self._send(Refused(408, "request_timeout", "request head too slow").answer, close=True)
                return
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint if exc.error_status_hint >= 400 else 400
                await self._send(Refused(status, "bad_request", f"malformed request: {exc}").answer, close=True)
                return
            if not isinstance(head, h11.Request):
                return  # the client closed the connection
            if not await self._exchange(head) or not self._request_done():
                return
            self.h11.start_next_cycle()

    def _request_done(self) -> bool:
        """Whether the request is over on both sides (a request answered without a body read is over only if it
        had none: its end is then already parsed)."""
        if self.h11.their_state is h11.SEND_BODY:
            try:
                self.h11.next_event()
            except h11.RemoteProtocolError:
                return False
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    async def _exchange(self, head: h11.Request) -> bool:
        """Answer one request; whether the connection can carry another."""
        request = _request(head, self.listener.token)
        answer: Answer | None = None
        handler = self.server.handler
        try:
            answer = handler.admit(request)
            if answer is None:
                body = await self._body(head)
                answer = await asyncio.wrap_future(self.server.workers.submit(handler.respond, request, body))
        except Refused as refused:
            answer = refused.answer
        finally:
            if request.admitted:
                handler.finish(request, answer)
        assert answer is not None  # admitted and answered, or refused: any other way out raised
        return await self._send(answer, close=answer.close)

    async def _body(self, head: h11.Request) -> bytes:
        limit = self.limits.max_body_bytes
        length = _content_length(head)
        if length is not None and length > limit:
            raise Refused(413, "too_large", f"request body of {length} bytes, over {limit}", close=True)
        if self.h11.they_are_waiting_for_100_continue:
            await self._write(self.h11.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")))
        body = bytearray()
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                while not isinstance(event := await self._next_event(), h11.EndOfMessage):
                    if not isinstance(event, h11.Data):
                        raise ConnectionError("the client closed the connection during the body")
                    body += event.data
                    if len(body) > limit:
                        raise Refused(413, "too_large", f"request body over {limit} bytes", close=True)
        except TimeoutError:
            raise Refused(408, "request_timeout", "request body too slow", close=True) from None
        except h11.RemoteProtocolError as exc:
            raise Refused(400, "bad_request", f"malformed request body: {exc}", close=True) from None
        return bytes(body)

    async def _next_event(self) -> Any:
        while (event := self.h11.next_event()) is h11.NEED_DATA:
            data = await self.reader.read(_CHUNK)
            self.received += len(data)
            self.h11.receive_data(data)
        return event

    async def _send(self, answer: Answer, *, close: bool) -> bool:
        """Write `answer`; whether the connection stays usable."""
        if self.h11.our_state is not h11.SEND_RESPONSE:  # no request to answer yet: written as is, then closed
            await self._write(_raw(answer))
            return False
        data = json.dumps(answer.payload).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        if close:
            headers.append(("Connection", "close"))
        reason = HTTPStatus(answer.status).phrase.encode()
        response = h11.Response(status_code=answer.status, headers=headers, reason=reason)
        # One write: two small ones meet delayed ACKs on the client's side.
        parts = (response, h11.Data(data=data), h11.EndOfMessage())
        await self._write(b"".join(self.h11.send(part) or b"" for part in parts))
        if close and self.h11.their_state is h11.SEND_BODY:
            await self._linger()
        return not close

    async def _linger(self) -> None:
        """Drop what remains of an unread body, within `_LINGER_BYTES` and `_LINGER_S`: nothing is kept."""
        if self.writer.can_write_eof():
            self.writer.write_eof()  # the client sees the answer end here
        left = _LINGER_BYTES
        try:
            async with asyncio.timeout(_LINGER_S):
                while left > 0 and (data := await self.reader.read(min(_CHUNK, left))):
                    left -= len(data)
        except (TimeoutError, ConnectionError):
            pass

    async def _write(self, data: bytes | None) -> None:
        self.writer.write(data or b"")
        async with asyncio.timeout(self.limits.write_timeout_s):
            await self.writer.drain()


def _raw(answer: Answer) -> bytes:
    """`answer` as an HTTP/1.1 response that closes its connection, outside any request h11 knows of."""
    data = json.dumps(answer.payload).encode()
    status = HTTPStatus(answer.status)
    head = f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: application/json\r\nConnection: close\r\n"
    return f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data


def _request(head: h11.Request, socket_token: str | None) -> Request:
    scheme, _, token = dict(head.headers).get(b"authorization", b"").decode("latin-1").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    path = head.target.decode("latin-1").split("?", 1)[0]
    return Request(head.method.decode("latin-1"), path, bearer, socket_token)


def _content_length(head: h11.Request) -> int | None:
    value = dict(head.headers).get(b"content-length")
    return int(value) if value is not None else None  # h11 has checked that it is a number


class Workers:
    """Daemon threads that run blocking answers. A thread whose work ended takes the next (starting a thread
    costs ~0.1 ms); none is ever waited for by another piece of work. Daemons: a call to a hung provider must not
    keep the host process alive at exit."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._idle = threading.Semaphore(0)  # one per thread waiting for work
        self._threads = 0
        self._lock = threading.Lock()

    def submit(self, function: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._work.put((future, lambda: function(*args)))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                self._threads += 1
            threading.Thread(target=self._run, name="opendgm-gateway-call", daemon=True).start()
        return future

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, 0
        for _ in range(threads):  # each thread ends at one of these, after the work queued before it
            self._work.put(None)

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            future, work = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as exc:
                    future.set_exception(exc)
            self._idle.release()
