"""Issue 12: the dashboard on its loopback bind answers only requests addressed to one of its own host names.
A web page whose name an attacker rebinds to 127.0.0.1 (DNS rebinding) sends its own name as Host, and gets 400
instead of the archive."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendgm.archive import Archive
from opendgm.web.app import create_app

OWN_NAMES = ["localhost", "127.0.0.1", "[::1]"]
FOREIGN = ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "localhost.evil.example", "", "[::2]"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[int]:
    """`opendgm serve` on a fresh campaign, on a free loopback port; its port."""
    Archive.create(tmp_path / "camp", "camp").close()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "opendgm.cli", "serve", str(tmp_path / "camp"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _status(port: int, host: str | None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", "/api/campaigns", skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def test_the_served_dashboard_answers_only_its_own_names(served: int):
    for name in OWN_NAMES:
        for host in (name, f"{name}:{served}"):
            assert _status(served, host) == 200, host
    for host in [*FOREIGN, None]:
        assert _status(served, host) == 400, host


@pytest.mark.parametrize("bound", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_the_bound_address_is_one_of_its_names(bound: str):
    own = f"[{bound}]" if ":" in bound else bound
    app = create_app({}, host=bound)
    for name in {*OWN_NAMES, own}:
        with TestClient(app, base_url=f"http://{name}:8765") as client:
            assert client.get("/api/campaigns").status_code == 200, name
    for name in FOREIGN[:4]:
        with TestClient(app, base_url=f"http://{name}") as client:
            assert client.get("/api/campaigns").status_code == 400, name
