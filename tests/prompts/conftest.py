"""Fixtures of the prompt-campaign tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.scripted_prompt_models import ReverseScript


@pytest.fixture
def reverse_script() -> Iterator[ReverseScript]:
    provider = ReverseScript()
    yield provider
    provider.stop()
