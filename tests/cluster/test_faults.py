"""Faults on a Ray cluster (issue 16). A campaign's runs are matched against the same campaign on the local
executor: a worker node killed mid-task costs that attempt only (the task runs again elsewhere and is recorded
once); a task whose node dies on Ray's every attempt is an infrastructure event, never a verdict on the agent; the
campaign process killed mid-campaign resumes with `opendgm run` to the same archive. And what a killed worker
leaves on its node is reaped when the node's next worker starts; nothing that is not ours, or whose owner lives,
is touched."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.evolve.test_campaign import TASKS, config
from tests.support.scripted_models import ENTRY_POINT, CapabilityScript

ray = pytest.importorskip("ray")
from opendgm.archive import Archive  # noqa: E402
from opendgm.archive.doctor import examine  # noqa: E402
from opendgm.cluster.node_start import runtime_env  # noqa: E402
from opendgm.cluster.progress import UNIT_EVENT  # noqa: E402
from opendgm.evolve.campaign import run_campaign  # noqa: E402
from opendgm.outcomes import INFRA_EVENT  # noqa: E402
from opendgm.sandbox import SandboxSpec, open_sandbox  # noqa: E402
from opendgm.sandbox.docker_client import docker_client  # noqa: E402
from opendgm.sandbox.factory import docker_housekeeping  # noqa: E402
from tests.cluster.test_ray_campaign import fingerprint  # noqa: E402
from tests.support.containers import exists as container_exists  # noqa: E402
from tests.support.llm_fakes import Reply  # noqa: E402
from tests.support.local_ray import LocalCluster, local_cluster, on  # noqa: E402

pytestmark = pytest.mark.ray

FIRST = "first"
DOOMED, DOOMED_ENTRY = "HumanEval_2", "truncate_number"  # the task whose node dies under it


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """One worker node at a time: the node a unit runs on is the only one there is."""
    with local_cluster(__name__, (FIRST,), runtime_env=runtime_env()) as started:
        yield started


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, local_isolation: None) -> tuple[Any, Any]:
    """The archive the same campaign makes on the local executor, undisturbed: what every faulted run must match."""
    script = CapabilityScript()
    root = tmp_path_factory.mktemp("local") / "c"
    try:
        assert run_campaign(config(script, "local", generations=1), root) == "done: 1 generations"
    finally:
        script.stop()
    return fingerprint(root)


class NodeKiller(CapabilityScript):
    """The scripted model; a request of the doomed task's agent waits here until the test has killed its node
    (up to `kills` times)."""

    def __init__(self, kills: int) -> None:
        super().__init__()
        self.kills = kills
        self.arrived = threading.Event()
        self.released = threading.Event()

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        conversation = "\n".join(m["content"] for m in body["messages"])
        entry = ENTRY_POINT.search(conversation)
        meta = "You are improving a coding agent" in body["messages"][0]["content"]  # the diagnosis
        agent = not meta and "source code of a coding agent" not in conversation  # nor the self-modification
        if self.kills and agent and entry and entry.group(1) == DOOMED_ENTRY:
            self.kills -= 1
            self.released.clear()
            self.arrived.set()
            self.released.wait(120)  # the node that sent this is gone by then: nobody reads the answer
        return super()._next(headers, body)


_names = itertools.count(1)  # of the nodes started in place of killed ones


def _run_while_killing(cluster: LocalCluster, script: NodeKiller, settings: Any, root: Path) -> str:
    """Run the campaign; each time the doomed task's agent calls the model, its node dies and a new one starts."""
    outcome: list[str] = []
    runner = threading.Thread(target=lambda: outcome.append(run_campaign(settings, root)), daemon=True)
    runner.start()
    while runner.is_alive():
        if not script.arrived.wait(1):
            continue
        script.arrived.clear()
        (old,) = cluster.nodes
        cluster.kill(old)  # before its successor starts, whose start-up reaping could end the old node's sandbox
        cluster.add(f"node-{next(_names)}")
        script.released.set()
    runner.join()
    assert outcome, "the campaign raised (see the log above)"
    return outcome[0]


def _on_ray(settings: Any, cluster: LocalCluster, retries: int) -> Any:
    executor = settings.executor.model_copy(
        update={"kind": "ray", "address": cluster.cluster.address, "max_retries": retries}
    )
    return settings.model_copy(update={"executor": executor})


def test_a_node_killed_mid_task_costs_one_attempt_and_the_task_is_recorded_once(
    cluster: LocalCluster, reference: tuple[Any, Any], tmp_path: Path
) -> None:
    script = NodeKiller(kills=1)
    try:
        settings = _on_ray(config(script, "local", generations=1), cluster, retries=2)
        reason = _run_while_killing(cluster, script, settings, tmp_path / "c")
    finally:
        script.stop()

    assert reason == "done: 1 generations"
    assert script.kills == 0, "the doomed task's node was killed mid-task"
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed = archive.nodes(kind="agent")[0]
        recorded = Counter(r.task_id for r in archive.results(seed.id))
        where = {e.data["where"] for e in archive.events() if e.kind == UNIT_EVENT}
    assert recorded == Counter(TASKS.split(",")), "each task once, the killed one included"
    assert len(where) >= 2, f"the killed unit ran again on another node: {where}"
    assert fingerprint(tmp_path / "c") == reference
    assert examine(tmp_path / "c") == []


def test_a_task_whose_node_dies_on_every_attempt_is_an_event_never_a_verdict(
    cluster: LocalCluster, local_isolation: None, tmp_path: Path
) -> None:
    script = NodeKiller(kills=1)
    try:
        settings = _on_ray(config(script, "local", generations=1), cluster, retries=0)  # Ray's one attempt dies
        stopped = _run_while_killing(cluster, script, settings, tmp_path / "c")
        with Archive.open(tmp_path / "c", readonly=True) as archive:
            seed = archive.nodes(kind="agent")[0]
            verdicts = {r.task_id for r in archive.results(seed.id)}
            events = [e.data for e in archive.events() if e.kind == INFRA_EVENT]
    finally:
        script.stop()

    assert "resume to retry" in stopped, stopped
    assert DOOMED not in verdicts, "a node that died is no verdict on the agent"
    assert [(e["task"], e["kind"]) for e in events] == [(DOOMED, "host")]
    assert examine(tmp_path / "c") == []


class HeadKiller(CapabilityScript):
    """The scripted model; the first self-modification request waits here until the test has killed the head."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.released = threading.Event()

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        conversation = "\n".join(m["content"] for m in body["messages"])
        if "source code of a coding agent" in conversation and not self.arrived.is_set():
            self.arrived.set()
            self.released.wait(120)
        return super()._next(headers, body)


def _opendgm_run(settings: Any, root: Path) -> subprocess.Popen[bytes]:
    path = root.parent / "campaign.yaml"
    path.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    command = [str(Path(sys.executable).parent / "opendgm"), "run", str(path), "--dir", str(root)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())


def test_the_campaign_process_killed_mid_campaign_resumes_to_the_same_archive(
    cluster: LocalCluster, reference: tuple[Any, Any], tmp_path: Path
) -> None:
    script = HeadKiller()
    try:
        settings = _on_ray(config(script, "local", generations=1), cluster, retries=2)

        head = _opendgm_run(settings, tmp_path / "c")
        assert script.arrived.wait(300), "the campaign reached the self-modification"
        head.send_signal(signal.SIGKILL)  # mid-campaign: a unit is out on a node, the archive is half written
        head.wait()
        script.released.set()
        again = _opendgm_run(settings, tmp_path / "c")
        _, err = again.communicate(timeout=600)
    finally:
        script.released.set()
        script.stop()

    assert again.returncode == 0, err.decode()[-2000:]
    assert fingerprint(tmp_path / "c") == reference
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        keys = [(r.code_hash, r.task_id, r.attempt) for n in archive.nodes(kind="agent") for r in archive.results(n.id)]
    assert len(keys) == len(set(keys)), "no result recorded twice"
    assert examine(tmp_path / "c") == []


class SandboxHolder:
    """A worker on a node that holds a Docker sandbox open, as an evaluation in progress does."""

    def open(self, image: str) -> tuple[int, str]:
        self.sandbox = open_sandbox(SandboxSpec(image=image, campaign="ray-orphans"), "docker")
        return os.getpid(), self.sandbox.container.id


def _reaped_at_start() -> bool:
    """On a worker that opened no sandbox: whether it reaped its node's abandoned ones when it started."""
    return docker_housekeeping.cache_info().currsize == 1


@pytest.mark.docker
def test_a_killed_workers_sandboxes_are_reaped_when_its_nodes_next_worker_starts(
    cluster: LocalCluster, docker_engine: str
) -> None:
    (victim,) = cluster.nodes
    holder = ray.remote(SandboxHolder).options(**on(victim)).remote()
    pid, orphan = ray.get(holder.open.remote(docker_engine), timeout=120)
    foreign = docker_client().containers.create(docker_engine, ["sleep", "600"], network_mode="none")
    foreign.start()
    live = open_sandbox(SandboxSpec(image=docker_engine, campaign="ray-orphans-live"), "docker")
    try:
        os.kill(pid, signal.SIGKILL)  # the worker dies with no chance to clean up, and its node with it
        cluster.kill(victim)
        assert container_exists(orphan), "nobody was left on the node to remove the sandbox"

        back = f"node-{next(_names)}"
        cluster.add(back)  # the machine comes back
        reaped = ray.get(ray.remote(_reaped_at_start).options(**on(back)).remote(), timeout=120)

        assert reaped, "the node's next worker reaps when it starts, before any sandbox of its own"
        assert not container_exists(orphan), "the dead worker's sandbox is reaped when the node's next worker starts"
        foreign.reload()
        assert foreign.status == "running", "a container opendgm did not start must never be touched"
        assert container_exists(live.container.id), "a sandbox whose owner lives must be kept"
    finally:
        live.close()
        foreign.remove(force=True)
        if container_exists(orphan):
            docker_client().containers.get(orphan).remove(force=True, v=True)
