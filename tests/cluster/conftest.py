"""Fixtures of the cluster tests: one async campaign on the session's Ray cluster (tests/conftest.py), its model key
a canary, shared by the tests that check what it left (a campaign on Ray takes a minute on two cores)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.ray_cluster import CampaignRun, LocalCluster, run_recorded
from tests.support.scripted_models import CapabilityScript


@pytest.fixture
def script() -> Iterator[CapabilityScript]:
    """The campaign tests' scripted model, whose self-improvement really helps, served on 127.0.0.1."""
    provider = CapabilityScript()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def canary_campaign(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> CampaignRun:
    """An async campaign on the cluster whose model key is the canary, with every Ray payload it made recorded."""
    from opendgm.sandbox.local_backend import bubblewrap_problem

    problem = bubblewrap_problem()
    if problem:
        pytest.skip(f"local backend cannot isolate: {problem}")
    return run_recorded(cluster, tmp_path_factory.mktemp("canary") / "c")
