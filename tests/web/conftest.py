"""Dashboard fixtures: real campaign archives (tests/support/web_campaign.py, showcase.py), never mocked, and a
real headless Chromium driven by Playwright (tests/support/web_server.py serves the dashboard to it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opendgm.web.app import create_app
from tests.support.prerequisites import unavailable
from tests.support.web_campaign import build_campaign

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
    with TestClient(create_app({"camp": campaign[0]}), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright); a missing one skips, unless OPENDGM_REQUIRE_DOCKER=1 (CI)."""
    if not Path(CHROMIUM).exists():
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)", "browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed", "browser")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
