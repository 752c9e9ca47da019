"""The dashboard's spend view in a real headless Chromium: spend by purpose and operator, the prompt cache, and the
cost of each improvement, on the campaign whose figures tests/archive/test_costs.py computes by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cost_campaign import build_cost_campaign
from tests.support.web_server import serving


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("dashboard-cost")
    with serving({"costs": build_cost_campaign(work / "campaign", work)}) as address:
        yield address


def _rows(page: Any, table: str) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in (r.split("\t") for r in page.locator(f"{table} tr").all_inner_texts()[1:])}


def test_the_spend_view_shows_purposes_operators_the_cache_and_each_improvement(browser: Any, url: str) -> None:
    page = browser.new_page(viewport={"width": 1500, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{url}?c=costs")
    page.wait_for_selector("#live:has-text('live, event')", timeout=60_000)
    page.click("#views button[data-view=overview]")
    page.wait_for_selector("#improvements tr:nth-child(4)")

    assert _rows(page, "#purposes")["agent work"] == ["8", "8,800", "80.0%", "$0.8000"]
    assert _rows(page, "#operators")["(campaign)"] == ["1", "105", "0.0%", "$0.0100"]
    assert page.inner_text("#card-cache .big") == "58.9%"
    assert "463 tokens, $0.0421 of agent work per resolved task" in page.inner_text("#card-cache")
    assert page.inner_text("#card-improvement .big") == "$0.6750"
    summary = page.inner_text("#improvement-summary")
    assert summary.startswith("full_score rule: 2 over n0001 (+50.0 points): $0.6750 each, $0.0270 per point")
    steps = _rows(page, "#improvements")
    assert list(steps) == ["n0001", "n0002", "n0004"]
    assert steps["n0004"] == [
        "0.8",
        "+20.0 pts",
        "$1.5500 · 25,000 tokens",
        "$0.9000 · 15,200 tokens",
        "$1.1000 · 3 nodes",
    ]
    assert not errors, errors
    page.close()
