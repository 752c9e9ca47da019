"""Issue 13, cases 2-4, on one (agent, task) run with real Docker and a misbehaving provider on loopback: a hung
model service, an engine failure during grading and an agent's own misdeeds each land where they belong, decided
from the gateway's and the engine's records, never from what the agent printed or how it exited."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from opendgm.agents.contract import seed_agent_dir
from opendgm.archive import Archive
from opendgm.evaluators.evaluation import EvaluationContext, evaluate_tasks
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.runner import TaskOutcome
from opendgm.evaluators.task import NO_GRADING, Task
from opendgm.llm import Gateway, Price, RetryPolicy, RoleConfig, Router
from opendgm.sandbox.docker_client import docker_client
from tests.support.fault_models import FaultyScript
from tests.support.llm_fakes import MESSAGES

pytestmark = pytest.mark.docker


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    with Archive.create(tmp_path / "campaign", f"faults-{uuid.uuid4().hex[:6]}") as opened:
        yield opened


@pytest.fixture
def gateway(archive: Archive, faulty: FaultyScript, make_gateway: Callable[[Router], Gateway]) -> Gateway:
    role = RoleConfig(model="openai/fake", api_base=faulty.base_url, price=Price(prompt=1, completion=2), timeout_s=30)
    retry = RetryPolicy(attempts=3, initial_s=0.01, max_s=0.02, jitter_s=0)  # a role may retry for up to 90 s
    router = Router({"agent": role}, ledger=archive.ledger, campaign=archive.campaign, retry=retry)
    router.complete("agent", MESSAGES)  # the first call loads the model layer: not within an agent's time limit
    return make_gateway(router)


def _task(agent_timeout_s: float = 60, image: str | None = None) -> Task:
    (task,) = HumanEval().select("HumanEval_0")
    return task.model_copy(update={"agent_timeout_s": agent_timeout_s} | ({"image": image} if image else {}))


def _run(archive: Archive, gateway: Gateway, task: Task, agent_dir: Path | None = None, evaluator=None) -> TaskOutcome:
    node = archive.add_agent(agent_dir or seed_agent_dir(), operator="import").id
    seen: list[TaskOutcome] = []
    context = EvaluationContext(
        LocalExecutor(1), gateway, backend="docker", on_result=lambda _task, outcome: seen.append(outcome)
    )
    evaluate_tasks(archive, node, evaluator or HumanEval(), [task], context)
    (outcome,) = seen
    return outcome


def _stored(archive: Archive) -> dict[str, str]:
    return {r.task_id: r.status for node in archive.nodes(kind="agent") for r in archive.results(node.id)}


def _infra_events(archive: Archive) -> list[dict]:
    return [e.data for e in archive.events() if e.kind == "task_infrastructure_failure"]


def test_a_hung_provider_is_reported_as_such_not_as_the_agents_timeout(
    archive: Archive, gateway: Gateway, faulty: FaultyScript, docker_engine: str
) -> None:
    """Case 2: the role may retry for 90 s, the agent has 15 s; the gateway stops at the agent's own limit."""
    faulty.inject("task", "hang", count=10)
    outcome = _run(archive, gateway, _task(agent_timeout_s=15))
    assert ("task", "hang") in faulty.fired
    assert _stored(archive) == {}, "no verdict on the agent"
    assert [e.get("kind") for e in _infra_events(archive)] == ["model_hung"], _infra_events(archive)
    assert "waited" in outcome.detail and outcome.model_wait_s > 5


def test_a_failing_model_service_is_an_event_and_a_healthy_rerun_is_the_verdict(
    archive: Archive, gateway: Gateway, faulty: FaultyScript, docker_engine: str
) -> None:
    """Case 1 for an agent's own calls: 500s past the retries, then a truncated answer, then a healthy service."""
    faulty.inject("task", "500", count=3)
    first = _run(archive, gateway, _task())
    faulty.inject("task", "malformed")  # not retried: a broken answer is not transient
    second = _run(archive, gateway, _task())
    assert {("task", "500"), ("task", "malformed")} <= set(faulty.fired)
    assert _stored(archive) == {}
    assert [e.get("kind") for e in _infra_events(archive)] == ["model_service", "model_service"]
    assert not first.resolved and not second.resolved
    healthy = _run(archive, gateway, _task())
    assert not healthy.infrastructure_failure and _stored(archive) == {"HumanEval_0": healthy.status}


@pytest.mark.parametrize("fault", ["image_removed", "container_killed"])
def test_an_engine_failure_during_grading_is_an_event_not_grading_error(
    archive: Archive, gateway: Gateway, faulty: FaultyScript, docker_engine: str, fault: str
) -> None:
    """Case 3: the task image is removed (our own tag of it), or the grading container killed, mid-run."""
    tag = f"opendgm-fault-test:{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "tag", docker_engine, tag], check=True)
    fired: list[str] = []

    class Sabotaged(HumanEval):
        def grade(self, task, patch, sandbox, grading=NO_GRADING):  # type: ignore[no-untyped-def]
            if not fired:
                fired.append(fault)
                if fault == "container_killed":
                    docker_client().api.kill(sandbox.container.id)  # type: ignore[attr-defined]
            return super().grade(task, patch, sandbox, grading)

    class Untagging(Sabotaged):
        def prepare(self, task, sandbox):  # type: ignore[no-untyped-def]
            base = super().prepare(task, sandbox)
            if fault == "image_removed" and not fired:  # the agent's sandbox exists; grading will need the image
                subprocess.run(["docker", "rmi", tag], check=True, capture_output=True)
                fired.append(fault)
            return base

    faulty.bash_tasks = True  # the seed agent solves the task, so its change is graded
    try:
        outcome = _run(archive, gateway, _task(image=tag), evaluator=Untagging())
    finally:
        subprocess.run(["docker", "rmi", tag], capture_output=True)
    assert fired == [fault]
    assert _stored(archive) == {}, "no grading_error verdict"
    assert [e.get("kind") for e in _infra_events(archive)] == ["engine"], _infra_events(archive)
    assert "grading" in outcome.detail


HOSTILE = {
    # deletes the repository's git metadata, solves nothing
    "deletes_git": "import shutil; shutil.rmtree('/workspace/repo/.git'); open('/workspace/repo/x.py', 'w').write('1')",
    # leaves a `tests` link to outside the repository
    "tests_symlink": "import os; os.symlink('/etc', '/workspace/repo/tests')",
    # exits with the code the seed agents use for a model error, printing what a model error prints
    "model_error_exit": (
        "import sys; print('model error: gateway HTTP 503: retries exhausted', file=sys.stderr); sys.exit(3)"
    ),
}


@pytest.mark.parametrize("misdeed", sorted(HOSTILE))
def test_what_the_agent_did_is_a_stored_verdict(
    archive: Archive, gateway: Gateway, docker_engine: str, tmp_path: Path, misdeed: str
) -> None:
    """Case 4: none of these wedges the campaign as an infrastructure event; each is stored as a verdict."""
    agent = tmp_path / misdeed
    shutil.copytree(seed_agent_dir(), agent)
    (agent / "agent.py").write_text(HOSTILE[misdeed] + "\n")
    outcome = _run(archive, gateway, _task(), agent_dir=agent)
    assert _stored(archive) == {"HumanEval_0": outcome.status}, (outcome.status, outcome.detail)
    assert outcome.status in ("agent_error", "unresolved", "empty_patch", "patch_failed"), outcome.status
