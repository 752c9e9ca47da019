"""Fixtures of the campaign tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.scripted_models import CapabilityScript


@pytest.fixture
def script() -> Iterator[CapabilityScript]:
    """The scripted model whose self-improvement really helps, served on 127.0.0.1."""
    provider = CapabilityScript()
    yield provider
    provider.stop()
