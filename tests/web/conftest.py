"""Dashboard fixtures: real campaign archives (web_campaign.py, showcase.py), never mocked; the dashboard served
by uvicorn on a loopback port; a real headless Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from web_campaign import build_campaign

from opendgm.web.app import create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("web")
    return work / "campaign", build_campaign(work / "campaign", work)


@pytest.fixture
def client(campaign: tuple[Path, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app({"camp": campaign[0]})) as test_client:
        yield test_client


@contextlib.contextmanager
def serving(campaigns: dict[str, Path]) -> Iterator[str]:
    """The dashboard over `campaigns`, served by uvicorn on a free loopback port in a thread; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(campaigns), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()


def _unavailable(reason: str) -> None:
    if os.environ.get("OPENDGM_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (OPENDGM_REQUIRE_DOCKER=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright); a missing one skips, unless OPENDGM_REQUIRE_DOCKER=1 (CI)."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
