"""The dgm-initial seed agent, run as the evaluator runs it: in a sandbox, through the real gateway, with a
scripted model that calls its tools natively or, on a server without tools, through the text protocol."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendgm.agents.contract import (
    AGENT_ENV,
    SEED_AGENTS,
    agent_mounts,
    agent_source,
    seed_agent_dir,
    self_test_command,
)
from opendgm.archive import Archive
from opendgm.cli import app
from opendgm.evaluators.evaluation import EvaluationContext, evaluate_stage
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evolve.campaign import run_campaign
from opendgm.evolve.config import CampaignConfig
from opendgm.llm import Gateway, Price, RetryPolicy, RoleConfig, Router
from opendgm.sandbox import DEFAULT_IMAGE, SandboxSpec, open_sandbox
from tests.support.tool_models import PROBE_KEPT, SHOW_PROBE, TOOLS_REFUSED, ToolCallingModel

AGENT = seed_agent_dir("dgm-initial")
OWN_TESTS = 37
TASKS = 3  # of the small subset: every task runs one agent and one grading sandbox
# Both backends, the Docker one marked as such (the `backend` fixture checks each one's prerequisites).
BOTH_BACKENDS = pytest.mark.parametrize(
    "backend", [pytest.param("docker", marks=pytest.mark.docker), "local"], indirect=True
)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    with Archive.create(tmp_path / "campaign", "test-dgm-initial") as opened:
        yield opened


def serve(model: ToolCallingModel, archive: Archive, make_gateway: Callable[[Router], Gateway]) -> Gateway:
    role = RoleConfig(
        model="openai/fake", api_base=model.base_url, price=Price(prompt=1, completion=2), timeout_s=20, max_tokens=8192
    )
    retry = RetryPolicy(attempts=1, initial_s=0.01, max_s=0.02, jitter_s=0)
    return make_gateway(Router({"agent": role}, ledger=archive.ledger, campaign=archive.campaign, retry=retry))


@pytest.fixture
def tool_model() -> Iterator[Callable[..., ToolCallingModel]]:
    """Starts scripted models (`refuse_tools=True`: HTTP 400 to a request with tools) and stops them after."""
    models: list[ToolCallingModel] = []

    def start(refuse_tools: bool = False) -> ToolCallingModel:
        models.append(ToolCallingModel(refuse_tools))
        return models[-1]

    yield start
    for model in models:
        model.stop()


def role_config(model: ToolCallingModel) -> dict[str, object]:
    """The agent role of a campaign or models file, served by `model`."""
    return {"model": "openai/fake", "api_base": model.base_url, "max_tokens": 4096, "timeout_s": 20}


def solve(archive: Archive, gateway: Gateway, subset: str, backend: str) -> dict[str, list[dict]]:
    """Evaluate the dgm-initial seed on `subset`; every task must be resolved. Returns each task's trajectory."""
    evaluator = HumanEval()
    tasks = evaluator.select(subset)
    node = archive.add_agent(AGENT, operator="import").id
    context = EvaluationContext(gateway=gateway, executor=LocalExecutor(2), backend=backend)
    score = evaluate_stage(archive, node, evaluator, tasks, "test", context)
    results = archive.results(node)
    assert (score.n_resolved, score.n_tasks) == (len(tasks), len(tasks)), [
        (r.task_id, r.status, r.detail) for r in results
    ]
    return {
        r.task_id: [json.loads(line) for line in archive.artifacts.read_text(r.trajectory_path).splitlines()]
        for r in results
    }


def of_type(records: list[dict], kind: str) -> list[dict]:
    return [r for r in records if r["type"] == kind]


@BOTH_BACKENDS
def test_own_test_suite_passes_in_a_sandbox(backend: str) -> None:
    spec = SandboxSpec(image=DEFAULT_IMAGE, mounts=agent_mounts(AGENT), env=dict(AGENT_ENV))
    with open_sandbox(spec, backend) as sandbox:
        result = sandbox.exec(self_test_command(), timeout=300)
        read_only = sandbox.exec("touch /agent/agent.py")
    assert result.ok, result.stdout + result.stderr
    assert f"Ran {OWN_TESTS} tests" in result.stderr and result.stderr.rstrip().endswith("OK")
    assert not read_only.ok, "the agent's own code must be read-only while it runs"


@BOTH_BACKENDS
def test_solves_humaneval_with_native_tool_calls(
    archive: Archive,
    tool_model: Callable[..., ToolCallingModel],
    make_gateway: Callable[[Router], Gateway],
    backend: str,
) -> None:
    native_model = tool_model()
    subset = ",".join(HumanEval().subsets()["small"][:TASKS])
    trajectories = solve(archive, serve(native_model, archive, make_gateway), subset, backend)
    for records in trajectories.values():
        start, end = records[0], records[-1]
        assert start["settings"]["max_steps"] is None and start["tools"] == ["bash", "editor"]
        assert (end["type"], end["status"], end["mode"], end["steps"]) == ("exit", "finished", "native", 5)
        tools = of_type(records, "tool")
        # The shell of the sandbox run kept the directory and the variable of the call before.
        (shown,) = [t for t in tools if t["arguments"] == {"command": SHOW_PROBE}]
        assert shown["output"] == PROBE_KEPT
        assert [t["name"] for t in tools] == ["bash", "bash", "editor", "editor", "bash"]
        assert tools[-1]["exit_code"] == 0  # the check after the edit, from the same reply's second call
    bodies = [request["body"] for request in native_model.requests]
    assert len(bodies) == 5 * TASKS
    assert all(b["tool_choice"] == "auto" and [t["function"]["name"] for t in b["tools"]] == ["bash", "editor"]
               for b in bodies)  # fmt: skip
    assert {b["max_tokens"] for b in bodies} == {4096} and not any("temperature" in b for b in bodies)
    assert all(b["messages"][0]["role"] == "user" for b in bodies)  # no system message in native mode


@BOTH_BACKENDS
def test_text_fallback_solves_a_task(
    archive: Archive,
    tool_model: Callable[..., ToolCallingModel],
    make_gateway: Callable[[Router], Gateway],
    backend: str,
) -> None:
    text_model = tool_model(refuse_tools=True)
    (records,) = solve(archive, serve(text_model, archive, make_gateway), "HumanEval_2", backend).values()
    (switch,) = of_type(records, "mode_switch")
    assert (switch["mode_from"], switch["mode_to"]) == ("native", "text") and TOOLS_REFUSED in switch["reason"]
    assert (records[-1]["status"], records[-1]["mode"]) == ("finished", "text")
    assert PROBE_KEPT in [t["output"] for t in of_type(records, "tool")]
    refused, *texts = [request["body"] for request in text_model.requests]
    assert "tools" in refused and texts and not any("tools" in b for b in texts)
    assert all(b["messages"][0]["role"] == "system" and "### editor" in b["messages"][0]["content"] for b in texts)


def test_built_in_seeds_by_name(tmp_path: Path) -> None:
    assert (agent_source("dgm-initial") / "agent.py").is_file() and agent_source("seed") == seed_agent_dir()
    assert agent_source(str(tmp_path)) == tmp_path
    assert set(SEED_AGENTS) == {"seed", "dgm-initial"}
    with pytest.raises(ValueError, match="unknown built-in seed agent 'dgm_initial'"):
        seed_agent_dir("dgm_initial")


def test_a_campaign_seeded_with_dgm_initial(
    tool_model: Callable[..., ToolCallingModel], local_isolation: None, tmp_path: Path
) -> None:
    role = role_config(tool_model())
    config = CampaignConfig.model_validate(
        {
            "name": "dgm-initial-seed",
            "seed_agent": "dgm-initial",
            "llm": {"roles": {"agent": role, "meta": role}, "retry": {"attempts": 1}},
            "stages": [{"subset": "HumanEval_2"}],
            "sandbox": {"backend": "local"},
            "budget": {"nodes": 0},  # the seed's evaluation only
        }
    )
    assert run_campaign(config, tmp_path / "c") == "nodes: 0 of 0 children created"
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        (seed,) = archive.nodes(kind="agent")
        shipped = {str(p.relative_to(AGENT)): p.read_bytes() for p in AGENT.rglob("*") if p.is_file()}
        assert archive.code(seed.id).files() == shipped
        assert archive.best_score(seed.id) == 1.0


def test_opendgm_evaluate_takes_dgm_initial_by_name(
    tool_model: Callable[..., ToolCallingModel], local_isolation: None, tmp_path: Path
) -> None:
    models = tmp_path / "models.yaml"
    role = role_config(tool_model())
    models.write_text(json.dumps({"roles": {"agent": role}, "retry": {"attempts": 1}}))  # JSON is YAML
    campaign = tmp_path / "campaign"
    options = ["--subset", "HumanEval_2", "--models", str(models), "--campaign", str(campaign), "--backend", "local"]
    result = CliRunner().invoke(app, ["evaluate", "dgm-initial", *options], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "1/1 resolved" in result.output
    with Archive.open(campaign, readonly=True) as archive:
        (node,) = archive.nodes(kind="agent")
        assert archive.code(node.id).read("AGENT.md") == (AGENT / "AGENT.md").read_bytes()
