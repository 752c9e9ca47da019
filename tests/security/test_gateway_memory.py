"""Issue 12, hole 6 (host memory): 200 concurrent connections without a token, each announcing a 2 MiB body and
sending half of it, leave the peak RSS of a process running only the gateway within 100 MB of its baseline.
On main the gateway read every body before looking at the token, one thread per connection: 100 such
connections grew the host process by 1.6 GB."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.gateway_attack import connect, head, post, status_of
from tests.support.llm_fakes import MESSAGES

CONNECTIONS = 200
ANNOUNCED = 2 * 1024 * 1024
SENT = 1024 * 1024
BUDGET_MB = 100

# The process under test: a gateway on the fake provider and nothing else; it prints a token, serves until its
# stdin closes.
GATEWAY_ONLY = """
import sys
from pathlib import Path
from opendgm.llm import FREE, Gateway, RoleConfig, Router

role = RoleConfig(model="openai/fake", api_base=sys.argv[1], max_tokens=10, price=FREE)
with Gateway(Router({"agent": role}), Path(sys.argv[2])) as gateway:
    print(gateway.issue_token("n", "agent"), flush=True)
    sys.stdin.read()
"""


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _connect_persistently(socket_path: Path) -> socket.socket:
    """Connect, as an attacker would: again and again while the listen backlog is full."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return connect(socket_path, timeout=30)
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _hostile_connection(socket_path: Path, barrier: threading.Barrier) -> int | None:
    """Announce a large body without a token, send part of it, hold on until every other one has too."""
    with _connect_persistently(socket_path) as client:
        try:
            client.sendall(head(None, ANNOUNCED))
            client.sendall(b"x" * SENT)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway hung up on us: what it should do
        barrier.wait(timeout=120)
        try:
            reply = client.recv(4096)
        except (TimeoutError, ConnectionResetError):
            return None
        return status_of(reply)


def test_connections_without_a_token_leave_the_gateways_memory_flat(fake_provider, socket_dir):
    socket_path = socket_dir / "g.sock"
    child = subprocess.Popen(
        [sys.executable, "-c", GATEWAY_ONLY, fake_provider.base_url, str(socket_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        token = child.stdout.readline().strip()
        assert post(socket_path, token, {"messages": MESSAGES})[0] == 200  # warm: a served call's imports are in
        baseline = _kib(child.pid, "VmRSS")
        Path(f"/proc/{child.pid}/clear_refs").write_text("5")  # the peak from now on

        barrier = threading.Barrier(CONNECTIONS)
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            statuses = list(pool.map(lambda _: _hostile_connection(socket_path, barrier), range(CONNECTIONS)))
        peak = _kib(child.pid, "VmHWM")

        assert post(socket_path, token, {"messages": MESSAGES})[0] == 200  # and it still serves
    finally:
        child.stdin.close()
        child.wait(timeout=30)

    grown_mb = (peak - baseline) / 1024
    print(f"gateway process: baseline RSS {baseline / 1024:.1f} MB, peak {peak / 1024:.1f} MB (+{grown_mb:.1f} MB)")
    assert grown_mb < BUDGET_MB, f"peak RSS grew {grown_mb:.0f} MB under {CONNECTIONS} connections without a token"
    assert set(statuses) <= {401, None}, statuses  # refused, or hung up on
    assert child.returncode == 0
