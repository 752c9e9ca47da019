"""Issue 12, hole 6: a sandbox cannot exhaust the host through the gateway's socket, nor make another sandbox's
calls fail. The token is checked before a body is read; bodies, heads, read times and connections are bounded;
each token's sandbox has a socket of its own, so a flood on it reaches no one else."""

from __future__ import annotations

import errno
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from opendgm.llm import Gateway, GatewayLimits
from tests.support.gateway_attack import answer, connect, head, post, post_unanswered, router_for, status_of
from tests.support.llm_fakes import Reply

BODY = b'{"messages": [{"role": "user", "content": "Say hello."}]}'


@pytest.fixture
def gateway_with(fake_provider, socket_dir):
    """A gateway on the fake provider with the given limits (stopped at the end, calls in flight or not)."""
    started: list[Gateway] = []

    def make(**limits: float) -> Gateway:
        gateway = Gateway(router_for(fake_provider), socket_dir / f"g{len(started)}.sock", GatewayLimits(**limits))
        started.append(gateway.start())
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_the_token_is_checked_before_the_body_is_read(fake_provider, gateway_with, token):
    gateway = gateway_with()
    with connect(gateway.socket_path) as client:
        client.sendall(head(token, 16 * 1024 * 1024))  # a 16 MiB body announced, not one byte of it sent

        reply = answer(client)

    assert status_of(reply) == 401, reply[:200]
    assert fake_provider.count == 0


def test_a_body_over_the_limit_is_refused_before_it_is_read(fake_provider, gateway_with):
    gateway = gateway_with(max_body_bytes=64 * 1024)
    with connect(gateway.socket_path) as client:
        client.sendall(head(gateway.issue_token("n", "agent"), 1024 * 1024))

        reply = answer(client)

    assert status_of(reply) == 413, reply[:200]
    assert fake_provider.count == 0


def test_a_chunked_body_over_the_limit_is_refused(fake_provider, gateway_with):
    gateway = gateway_with(max_body_bytes=64 * 1024)
    token = gateway.issue_token("n", "agent")
    start = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"%x\r\n%s\r\n" % (32 * 1024, b" " * 32 * 1024)
    with connect(gateway.socket_path) as client:
        client.sendall(start)
        try:
            for _ in range(64):  # 2 MiB in all, unless the gateway hangs up first
                client.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

        reply = answer(client)

    assert status_of(reply) == 413, reply[:200]
    assert fake_provider.count == 0


def _trickle(client: socket.socket, data: bytes, every_s: float, for_s: float) -> float:
    """Send `data` a byte at a time; the seconds until the gateway hangs up (or `for_s` if it never does)."""
    started = time.monotonic()
    for byte in data:
        try:
            client.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
        if time.monotonic() - started > for_s:
            break
        time.sleep(every_s)
    answer(client)  # what the gateway said (if anything) before hanging up
    return time.monotonic() - started


def test_a_head_sent_a_byte_at_a_time_is_cut_off(gateway_with):
    gateway = gateway_with(head_timeout_s=1)
    with connect(gateway.socket_path, timeout=10) as client:
        lasted = _trickle(client, b"POST /v1/chat/completions HTTP/1.1\r\nX-Slow: " + b"a" * 1000, 0.05, for_s=15)

    assert lasted < 8, f"a slowloris head held its connection for {lasted:.1f} s"


def test_a_body_sent_a_byte_at_a_time_is_cut_off(fake_provider, gateway_with):
    gateway = gateway_with(body_timeout_s=1)
    with connect(gateway.socket_path, timeout=10) as client:
        client.sendall(head(gateway.issue_token("n", "agent"), len(BODY) * 100))
        lasted = _trickle(client, BODY * 100, 0.05, for_s=15)

    assert lasted < 8, f"a slowloris body held its connection for {lasted:.1f} s"
    assert fake_provider.count == 0


def test_a_silent_connection_is_closed(gateway_with):
    gateway = gateway_with(head_timeout_s=1)
    with connect(gateway.socket_path, timeout=10) as client:
        started = time.monotonic()
        answer(client)
        assert time.monotonic() - started < 8


def test_one_token_cannot_hold_more_than_its_share_of_calls(fake_provider, gateway_with):
    gateway = gateway_with(connections_per_token=2)
    greedy, other = gateway.issue_token("a", "agent"), gateway.issue_token("b", "agent")
    fake_provider.script = [Reply(hang_s=30), Reply(hang_s=30)]  # the greedy token's two calls hang upstream
    held = [threading.Thread(target=post_unanswered, args=(gateway.socket_path, greedy, BODY)) for _ in range(2)]
    for thread in held:
        thread.start()
    deadline = time.monotonic() + 30
    while fake_provider.count < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

    status, payload = post(gateway.socket_path, greedy, BODY, timeout=10)
    assert (status, payload["error"]["type"]) == (429, "too_many_connections")
    assert post(gateway.socket_path, other, BODY, timeout=10)[0] == 200  # the other sandbox is served meanwhile


def test_a_burst_of_connections_is_accepted_not_refused(gateway_with):
    """A listen backlog of 5 made the connects of a burst fail at once (EAGAIN): calls from other sandboxes failed
    as "model unavailable" whenever one sandbox opened many connections."""
    gateway = gateway_with()
    token = gateway.issue_token("n", "agent")
    barrier = threading.Barrier(150)

    def connect_in_burst() -> int:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(30)  # as gateway_client does: a full backlog fails the connect at once
        barrier.wait()
        try:
            client.connect(str(gateway.socket_path))
        except BlockingIOError:
            return errno.EAGAIN
        finally:
            client.close()
        return 0

    with ThreadPoolExecutor(150) as pool:
        results = list(pool.map(lambda _: connect_in_burst(), range(150)))

    assert results.count(errno.EAGAIN) == 0, f"{results.count(errno.EAGAIN)} of 150 connects refused"
    assert post(gateway.socket_path, token, BODY)[0] == 200


def test_a_flood_on_one_sandboxs_socket_does_not_reach_another_sandbox(fake_provider, gateway_with):
    gateway = gateway_with(connections_per_token=4)
    attacker, victim = gateway.issue_token("a", "agent"), gateway.issue_token("b", "agent")
    held: list[socket.socket] = []
    try:
        for path in (gateway.socket_for(attacker), gateway.socket_path):  # its own socket, and the shared one
            for _ in range(300):
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client.setblocking(False)
                if client.connect_ex(str(path)) == 0:
                    held.append(client)
                else:
                    client.close()

        for _ in range(5):
            assert post(gateway.socket_for(victim), victim, BODY, timeout=10)[0] == 200
    finally:
        for client in held:
            client.close()


def test_a_tokens_own_socket_serves_only_that_token_and_goes_with_it(gateway_with):
    gateway = gateway_with()
    mine, other = gateway.issue_token("a", "agent"), gateway.issue_token("b", "agent")
    path = gateway.socket_for(mine)

    assert post(path, mine, BODY)[0] == 200
    assert post(path, other, BODY)[0] == 401
    gateway.revoke(mine)
    assert not path.exists()
    with pytest.raises(OSError):
        connect(path)
