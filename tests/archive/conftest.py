"""Archive fixtures: a real archive (SQLite + git) in a temporary directory, never mocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opendgm.archive import Archive


@pytest.fixture
def campaign_dir(tmp_path: Path) -> Path:
    return tmp_path / "campaign"


@pytest.fixture
def archive(campaign_dir: Path) -> Iterator[Archive]:
    with Archive.create(campaign_dir, "test-campaign") as opened:
        yield opened
