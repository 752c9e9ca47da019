"""The dashboard in a real headless Chromium: load the tree, click a node, see its diff and task table.

Like the Docker tests, a missing Chromium (or Playwright) skips, unless OPENDGM_REQUIRE_DOCKER=1 (CI).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

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
SCREENSHOT_COPY = Path(os.environ.get("OPENDGM_SCREENSHOT_DIR", "/tmp/opendgm-web-test")) / "dashboard.png"
Campaign = tuple[Path, dict[str, str]]


def _unavailable(reason: str) -> None:
    if os.environ.get("OPENDGM_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (OPENDGM_REQUIRE_DOCKER=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture
def dashboard(campaign: Campaign) -> Iterator[str]:
    """The dashboard served by uvicorn on a free loopback port, in a thread stopped afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app({"camp": campaign[0]}), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive()


def test_click_a_node_shows_its_diff_and_tasks(dashboard: str, campaign: Campaign, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    child = campaign[1]["child"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            page.goto(dashboard)
            page.wait_for_function("window.dgm && window.dgm.S.nodes.length === 6")
            page.wait_for_selector(
                "#live:has-text('live, event')"
            )  # the first poll is in: no re-render races the click
            spot = page.evaluate(f"window.dgm.screenPos('{child}')")
            page.mouse.click(spot["x"], spot["y"])
            page.wait_for_selector("#tasks td")
            assert page.inner_text("#tab-node h2") == f"{child} · agent"
            added = page.locator("pre.diff span.add")
            assert added.count() == 1 and added.inner_text() == "+    return 2  # improved"
            assert page.locator("pre.diff span.del").inner_text() == "-    return 1"
            tasks = page.locator("#tasks tr[data-task]")
            # cell by cell: a row's innerText joins cells with tabs only while it is laid out
            assert tasks.first.locator("td").all_inner_texts()[:3] == ["task-a", "0", "resolved"]
            assert tasks.count() == 3
            page.screenshot(path=str(tmp_path / "dashboard.png"))
            page.click("#tasks tr[data-task='task-a']")
            page.wait_for_selector("#trajectory .step.action")
            assert "ls" in page.inner_text("#trajectory .step.action")
            assert page.locator("#error").is_hidden()
        finally:
            browser.close()
    SCREENSHOT_COPY.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "dashboard.png", SCREENSHOT_COPY)
    print(f"dashboard screenshot: {SCREENSHOT_COPY}")
