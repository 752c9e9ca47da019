"""Engine round trips per grading and per agent task (real engine): every request is counted, so a new inspect,
ping or copy on either path shows up here."""

from __future__ import annotations

import importlib
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from docker.api.client import APIClient

from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import TaskRunner, grade_patch
from opendgm.sandbox.factory import _docker_pool, docker_housekeeping
from tests.support.hostile import hostile_agent

EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"
ID = re.compile(r"/v[\d.]+|[0-9a-f]{64}")
# The module, not the package's function of the same name.
ENGINE_CLIENT = importlib.import_module("opendgm.sandbox.docker_client")


@pytest.fixture
def requests_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every engine request of this process, as (thread name, "METHOD /path" with ids left out)."""
    made: list[tuple[str, str]] = []
    send = requests.Session.send

    def counted(self: APIClient, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        made.append((threading.current_thread().name, f"{request.method} {ID.sub('', request.path_url.split('?')[0])}"))
        return send(self, request, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(APIClient, "send", counted, raising=False)
    # The engine is pinged at most once per ANSWER_FRESH_S, not once per grading; on a slow machine that one ping
    # can land inside the measured window, so the window is kept fresh (the ping has its own test below).
    monkeypatch.setattr(ENGINE_CLIENT, "ANSWER_FRESH_S", 3600.0)
    yield made


def _settled() -> None:
    """Wait for the pool's spares to be started and the used sandboxes removed (both on background threads)."""
    _docker_pool().settle()
    time.sleep(1.5)  # the remover's one request per sandbox


@pytest.mark.docker
def test_the_engine_is_pinged_once_per_freshness_window(
    docker_engine: str, requests_made: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ENGINE_CLIENT, "ANSWER_FRESH_S", 0.5)
    time.sleep(0.6)
    requests_made.clear()
    assert ENGINE_CLIENT.docker_available() is None  # stale: asks
    assert ENGINE_CLIENT.docker_available() is None  # fresh: takes the last answer
    time.sleep(0.6)
    assert ENGINE_CLIENT.docker_available() is None  # stale again: asks
    assert Counter(what for _, what in requests_made) == {"GET /_ping": 2}


@pytest.mark.docker
def test_a_pooled_grading_costs_four_engine_requests_one_on_its_path(
    docker_engine: str, requests_made: list[tuple[str, str]]
) -> None:
    evaluator = HumanEval()
    tasks = evaluator.tasks()[:5]
    for task in tasks[:2]:  # the pool learns that the spec's sandboxes run one command each
        assert grade_patch(evaluator, task, evaluator.reference_patch(task), "docker", "test-round-trips").resolved
    _settled()
    requests_made.clear()
    for task in tasks[2:]:
        assert grade_patch(evaluator, task, evaluator.reference_patch(task), "docker", "test-round-trips").resolved
    _settled()
    on_path = Counter(what for thread, what in requests_made if thread == "MainThread")
    assert on_path == {"POST /containers//attach": 3}, on_path  # a spare's create and start ran ahead of need
    every = Counter(what for _, what in requests_made)
    assert every == {
        "POST /containers/create": 3,
        "POST /containers//start": 3,
        "POST /containers//attach": 3,
        "DELETE /containers/": 3,
    }, every


@pytest.mark.docker
def test_an_agent_task_costs_fifteen_engine_requests(
    docker_engine: str, requests_made: list[tuple[str, str]], tmp_path: Path
) -> None:
    agent = hostile_agent(tmp_path / "agent", "(repo / 'added.txt').write_text('hi')")
    evaluator = RepoTasks(EXAMPLES)
    (task,) = evaluator.select("add-slugify")
    runner = TaskRunner(evaluator, agent, None, node="round-trips", backend="docker", campaign="test-round-trips")
    docker_housekeeping()  # once per process: the reaping of what dead runs left
    requests_made.clear()
    run = runner.run_agent(task)
    assert "added.txt" in run.patch, run
    every = Counter(what for _, what in requests_made)
    assert every == {
        "POST /containers/create": 1,
        "POST /containers//start": 1,
        "POST /containers//exec": 3,  # prepare, the agent, the end of every process it left
        "POST /exec//start": 3,
        "GET /exec//json": 3,  # their exit codes
        "GET /containers//archive": 3,  # the tree before, the trajectory, the tree after
        "DELETE /containers/": 1,
    }, every
