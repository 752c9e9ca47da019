"""Shared fixtures: real Docker engine and real local isolation, never faked.

When `OPENDGM_REQUIRE_DOCKER=1` (set by `.ci/run`), a missing Docker engine or a local backend that
cannot isolate is a test failure, not a skip.
"""

from __future__ import annotations

import os

import pytest

from opendgm.sandbox.docker_client import docker_available
from opendgm.sandbox.local_backend import bubblewrap_problem
from opendgm.sandbox.spec import DEFAULT_IMAGE

REQUIRED = os.environ.get("OPENDGM_REQUIRE_DOCKER") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (OPENDGM_REQUIRE_DOCKER=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The runtime image name, once a Docker engine answers and the image is built."""
    problem = docker_available()
    if problem:
        _unavailable(f"no Docker engine: {problem}")
    from opendgm.sandbox.images import build_runtime_image

    return build_runtime_image(DEFAULT_IMAGE, say=lambda _msg: None).image


@pytest.fixture(scope="session")
def local_isolation() -> None:
    """The local backend can isolate here (bubblewrap with namespaces)."""
    problem = bubblewrap_problem()
    if problem:
        _unavailable(f"local backend cannot isolate: {problem}")


@pytest.fixture(params=["docker", "local"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that takes `backend` runs on both backends, with their prerequisites checked."""
    if request.param == "docker":
        request.getfixturevalue("docker_engine")
    else:
        request.getfixturevalue("local_isolation")
    return request.param
