"""What a test may lack on a contributor's machine (a Docker engine, the embedded model, a browser), the marker a
test that needs it carries, and the one way a fixture reports a missing one.

`pytest -m "not docker and not model and not browser"` is the suite without them; a test that reaches a missing
prerequisite without carrying its marker fails (tests/conftest.py), so the markers cannot drift from the needs.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

# OPENDGM_REQUIRE_DOCKER=1 (set by .ci/run): a missing prerequisite is a failure, not a skip.
REQUIRED = os.environ.get("OPENDGM_REQUIRE_DOCKER") == "1"
MARKERS = ("docker", "model", "browser")


def unavailable(reason: str, marker: str | None = None) -> NoReturn:
    """Skip for want of a prerequisite (fail in CI); `marker` is the marker of the tests that need it."""
    if REQUIRED:
        pytest.fail(f"{reason} (OPENDGM_REQUIRE_DOCKER=1 forbids skipping)")
    try:
        pytest.skip(reason)
    except pytest.skip.Exception as skipped:
        skipped.prerequisite = marker  # type: ignore[attr-defined]  # read back by tests/conftest.py
        raise


def missing_marker(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException] | None) -> str | None:
    """The marker `item` lacks for the prerequisite it was skipped for, if any."""
    marker = getattr(excinfo.value, "prerequisite", None) if excinfo is not None else None
    return marker if marker is not None and item.get_closest_marker(marker) is None else None
