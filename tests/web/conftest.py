"""Dashboard fixtures: one real campaign archive per session (see web_campaign.py), never mocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_campaign import build_campaign

from opendgm.web.app import create_app


@pytest.fixture(scope="session")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("web")
    return work / "campaign", build_campaign(work / "campaign", work)


@pytest.fixture
def client(campaign: tuple[Path, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app({"camp": campaign[0]}), base_url="http://127.0.0.1") as test_client:
        yield test_client
