"""Dashboard fixtures: real campaign archives (web_campaign.py, showcase.py), never mocked, and a real headless
Chromium driven by Playwright (web_server.py serves the dashboard to it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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
