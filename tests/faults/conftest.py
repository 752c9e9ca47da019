"""Fixtures of the fault tests: the scripted models of the campaign tests, behind a service that fails on purpose."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "evolve"))  # scripted_models, test_campaign, crash_harness

from fault_models import FaultyScript


@pytest.fixture
def faulty() -> Iterator[FaultyScript]:
    provider = FaultyScript()
    yield provider
    provider.stop()
