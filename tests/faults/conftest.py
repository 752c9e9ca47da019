"""Fixtures of the fault tests: the scripted models of the campaign tests, behind a service that fails on purpose."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fault_models import FaultyScript


@pytest.fixture
def faulty() -> Iterator[FaultyScript]:
    provider = FaultyScript()
    yield provider
    provider.stop()
