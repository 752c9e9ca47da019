"""Fixtures of the cluster tests: one real three-node Ray cluster per module (Ray is slow to start)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "evolve"))  # the campaign tests' scripted model
from cluster_support import LocalCluster
from scripted_models import CapabilityScript


@pytest.fixture
def script() -> Iterator[CapabilityScript]:
    """The campaign tests' scripted model, whose self-improvement really helps, served on 127.0.0.1."""
    provider = CapabilityScript()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    pytest.importorskip("ray", reason="the `ray` extra is not installed")
    started = LocalCluster()
    try:
        yield started
    finally:
        started.shutdown()
