"""The seed agent, driven by a scripted model through the real gateway, edits files and solves tasks;
every failure mode becomes a per-task status and the run goes on."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from opendgm.agents.contract import seed_agent_dir
from opendgm.archive import Archive
from opendgm.evaluators.evaluation import EvaluationContext, evaluate_stage
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.llm import Gateway, Price, RetryPolicy, RoleConfig, Router
from tests.support.llm_fakes import FakeProvider, Reply, completion, error

EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"


def say(text: str) -> Reply:
    return Reply(body=completion(text, prompt_tokens=100, completion_tokens=20))


def bash(command: str) -> Reply:
    return say(f"I will run this.\n```bash\n{command}\n```")


SUBMIT = bash("submit")


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    with Archive.create(tmp_path / "campaign", "test-evaluation") as opened:
        yield opened


@pytest.fixture
def gateway(archive: Archive, fake_provider: FakeProvider, make_gateway: Callable[[Router], Gateway]) -> Gateway:
    role = RoleConfig(
        model="openai/fake", api_base=fake_provider.base_url, price=Price(prompt=1, completion=2), timeout_s=5
    )
    retry = RetryPolicy(attempts=2, initial_s=0.01, max_s=0.02, jitter_s=0)
    router = Router({"agent": role}, ledger=archive.ledger, campaign=archive.campaign, retry=retry)
    return make_gateway(router)


def run(archive: Archive, gateway: Gateway, evaluator, tasks, backend: str, agent_dir: Path | None = None):
    node = archive.add_agent(agent_dir or seed_agent_dir(), operator="import").id
    context = EvaluationContext(gateway=gateway, executor=LocalExecutor(1), backend=backend)
    score = evaluate_stage(archive, node, evaluator, tasks, "test", context)
    return node, score, {r.task_id: r for r in archive.results(node)}


def test_scripted_model_solves_humaneval_through_the_gateway(
    archive: Archive, gateway: Gateway, fake_provider: FakeProvider, backend: str
) -> None:
    evaluator = HumanEval()
    tasks = evaluator.select("HumanEval_0,HumanEval_2")
    problems = evaluator._problems()
    solution = problems["HumanEval/0"]["prompt"] + problems["HumanEval/0"]["canonical_solution"]
    fake_provider.script = [
        # task 1: look, then rewrite the whole file with the edit tool, then submit
        bash("cat solution.py"),
        bash(f"python3 /agent/tools/edit.py create solution.py <<'EOF'\n{solution}EOF"),
        SUBMIT,
        # task 2: a surgical str_replace of the stub body
        bash("python3 /agent/tools/edit.py str_replace solution.py --old '    raise NotImplementedError' "
             "--new '    return number % 1.0'"),
        SUBMIT,
    ]  # fmt: skip
    node, score, results = run(archive, gateway, evaluator, tasks, backend)
    assert (score.n_resolved, score.n_tasks) == (2, 2), {k: (r.status, r.detail) for k, r in results.items()}
    assert fake_provider.count == 5 and not fake_provider.script
    for result in results.values():
        assert result.tokens == {"HumanEval_0": 3, "HumanEval_2": 2}[result.task_id] * 120
        assert result.cost_usd > 0
        trajectory = [json.loads(line) for line in archive.artifacts.read_text(result.trajectory_path).splitlines()]
        assert trajectory[-1] == {**trajectory[-1], "type": "exit", "status": "submitted"}
        assert "+    return number % 1.0" in archive.artifacts.read_text(results["HumanEval_2"].patch_path)
    assert archive.cost(node).calls == 5
    # The same code is never evaluated twice: a second node with identical code reuses every result.
    again, score_again, _ = run(archive, gateway, evaluator, tasks, backend)
    assert again != node and score_again.n_resolved == 2 and fake_provider.count == 5


def test_every_failure_is_a_per_task_status(
    archive: Archive, gateway: Gateway, fake_provider: FakeProvider, docker_engine: str, tmp_path: Path
) -> None:
    evaluator = RepoTasks(EXAMPLES)
    tasks = evaluator.select("all")  # add-slugify, fix-median
    # Junk from the model on the first task; the model service failing on the second.
    fake_provider.script = [say("I like trains."), say("Still no command."), say("Nope.")]
    fake_provider.default = error(500, "upstream exploded")
    node, score, results = run(archive, gateway, evaluator, tasks, "docker")
    assert results["add-slugify"].status == "empty_patch"
    # A failing model service is not the agent's fault: no result is stored, so a rerun retries the task.
    assert "fix-median" not in results and (score.n_done, score.n_tasks) == (1, 2)
    (failure,) = [e for e in archive.events(node_id=node) if e.kind == "task_infrastructure_failure"]
    assert failure.data["task"] == "fix-median" and failure.data["kind"] == "model_service"
    assert "503" in failure.data["detail"]
    fake_provider.default = bash("submit")
    context = EvaluationContext(gateway=gateway, executor=LocalExecutor(1), backend="docker")
    retried = evaluate_stage(archive, node, evaluator, tasks, "test", context)
    assert retried.n_done == 2 and archive.cached_result(node, evaluator.name, evaluator.version, "fix-median")

    crashing = tmp_path / "crashing-agent"
    shutil.copytree(seed_agent_dir(), crashing)
    (crashing / "agent.py").write_text("raise SystemExit('agent exploded on purpose')\n")
    _, _, crashed = run(archive, gateway, evaluator, tasks[:1], "docker", crashing)
    assert crashed["add-slugify"].status == "agent_error"
    assert "agent exploded on purpose" in crashed["add-slugify"].detail

    sleepy = tmp_path / "sleepy-agent"
    shutil.copytree(seed_agent_dir(), sleepy)
    (sleepy / "agent.py").write_text("import pathlib, time\npathlib.Path('repo/x').write_text('x')\ntime.sleep(600)\n")
    quick = [task.model_copy(update={"agent_timeout_s": 3}) for task in tasks[:1]]
    _, _, slow = run(archive, gateway, evaluator, quick, "docker", sleepy)
    assert slow["add-slugify"].status == "agent_timeout"


def test_invalid_tasks_are_reported_and_the_run_goes_on(
    archive: Archive, gateway: Gateway, fake_provider: FakeProvider, docker_engine: str, tmp_path: Path
) -> None:
    root = tmp_path / "tasks"
    shutil.copytree(EXAMPLES / "fix-median", root / "fix-median")
    (root / "broken").mkdir()
    (root / "broken" / "task.toml").write_text("statement = 'x'\ncolour = 'red'\n")
    fake_provider.script = [
        bash("sed -i 's/return ordered\\[len(ordered) \\/\\/ 2\\]/return 0/' stats/__init__.py"),
        SUBMIT,
    ]
    _, score, results = run(archive, gateway, RepoTasks(root), RepoTasks(root).select("all"), "docker")
    assert results["broken"].status == "invalid_task" and "colour" in results["broken"].detail
    assert results["fix-median"].status == "unresolved" and results["fix-median"].tests_failed >= 1
    assert score.n_done == 2 and score.n_resolved == 0
