"""The dashboard in a real headless Chromium: load the tree, click a node, see its diff and task table.

Like the Docker tests, a missing Chromium (or Playwright) skips, unless OPENDGM_REQUIRE_DOCKER=1 (CI).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.web_server import serving

SCREENSHOT_COPY = Path(os.environ.get("OPENDGM_SCREENSHOT_DIR", "/tmp/opendgm-web-test")) / "dashboard.png"
Campaign = tuple[Path, dict[str, str]]


@pytest.fixture
def dashboard(campaign: Campaign) -> Iterator[str]:
    with serving({"camp": campaign[0]}) as url:
        yield url


def test_click_a_node_shows_its_diff_and_tasks(
    dashboard: str, campaign: Campaign, browser: Any, tmp_path: Path
) -> None:
    child = campaign[1]["child"]
    page = browser.new_page(viewport={"width": 1400, "height": 800})
    page.goto(dashboard)
    page.wait_for_function("window.dgm && window.dgm.S.nodes.length === 6")
    page.wait_for_selector("#live:has-text('live, event')")  # the first poll is in: no re-render races the click
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
    page.close()
    SCREENSHOT_COPY.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "dashboard.png", SCREENSHOT_COPY)
    print(f"dashboard screenshot: {SCREENSHOT_COPY}")
