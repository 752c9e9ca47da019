"""The polyglot evaluator on exercises written for these tests (tests/fixtures/polyglot), real Docker.

Python runs in the runtime image; Go needs one extra image, built offline (debootstrap + docker import)
the first time and reused afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendgm.archive import Archive
from opendgm.evaluators.data_cli import app as data_app
from opendgm.evaluators.polyglot import Polyglot
from opendgm.evaluators.polyglot_data import import_polyglot
from opendgm.evaluators.polyglot_images import build_language_image
from opendgm.evaluators.polyglot_languages import LANGUAGES
from opendgm.evaluators.runner import TaskRunner
from opendgm.evaluators.verify import verify

FIXTURE = Path(__file__).parents[1] / "fixtures" / "polyglot"
RUNNABLE = ["python__clock-angle", "go__digit-sum"]
HIDDEN = {"clock_angle_test.py", "digit_sum_test.go", "example.py", "example.go"}


@pytest.fixture(scope="module")
def evaluator(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Polyglot:
    """The fixture exercises, imported as a user would, with the Go toolchain image built (once)."""
    build_language_image(LANGUAGES["go"], say=lambda _message: None)
    dest = tmp_path_factory.mktemp("data") / "polyglot"
    assert import_polyglot(FIXTURE, dest) == 3
    return Polyglot(dest)


def test_import_copies_the_layout_and_replaces_a_previous_import(tmp_path: Path) -> None:
    dest = tmp_path / "polyglot"
    (dest / "stale").mkdir(parents=True)
    assert import_polyglot(FIXTURE, dest) == 3
    assert not (dest / "stale").exists()
    exercise = dest / "go/exercises/practice/digit-sum"
    assert json.loads((exercise / ".meta/config.json").read_text())["files"]["test"] == ["digit_sum_test.go"]
    assert (exercise / ".meta/example.go").exists() and (exercise / "go.mod").exists()
    with pytest.raises(FileNotFoundError, match="polyglot-benchmark"):
        import_polyglot(tmp_path / "polyglot" / "go", tmp_path / "elsewhere")


def test_tasks_hide_tests_and_reference_solutions(tmp_path: Path) -> None:
    import_polyglot(FIXTURE, tmp_path / "p")
    tasks = {task.id: task for task in Polyglot(tmp_path / "p").tasks()}
    go = tasks["go__digit-sum"]
    assert set(go.repo_files) == {"go.mod", "digit_sum.go", ".docs/instructions.md", ".docs/instructions.append.md"}
    assert set(go.hidden_tests) == {"digit_sum_test.go"}
    assert "sum of the decimal digits" in go.statement and "absolute value" in go.statement
    assert "digit_sum.go" in go.statement and "GOPROXY=off" in go.test_command
    assert "go test -json ./..." in go.test_command  # the runner's own per-test report
    assert not any(path.startswith(".meta") for task in tasks.values() for path in task.repo_files)
    javascript = tasks["javascript__hello"]  # runs offline now: jest comes with the toolchain image
    assert javascript.image == LANGUAGES["javascript"].image and "jest.js" in javascript.test_command
    assert javascript.invalid is None or "opendgm data images polyglot --language javascript" in javascript.invalid
    subsets = Polyglot(tmp_path / "p").subsets()
    assert subsets["go"] == ["go__digit-sum"] and "small" not in subsets  # DGM's stages need DGM's exercises


@pytest.mark.parametrize("task_id", RUNNABLE)
def test_reference_solution_passes_and_stub_fails(evaluator: Polyglot, task_id: str) -> None:
    tasks = evaluator.select(task_id)
    assert tasks[0].invalid is None, tasks[0].invalid
    reference = verify(evaluator, tasks, "reference", "docker")
    stub = verify(evaluator, tasks, "stub", "docker")
    assert (reference.resolved, reference.failures) == (1, []), reference
    assert (stub.resolved, stub.statuses["unresolved"], stub.failures) == (0, 1, []), stub


@pytest.mark.parametrize("task_id", RUNNABLE)
def test_the_agent_never_sees_the_tests(evaluator: Polyglot, task_id: str, snooping_agent: Path) -> None:
    (task,) = evaluator.select(task_id)
    outcome = TaskRunner(evaluator, snooping_agent, gateway=None, node="snoop", backend="docker").run(task)
    seen = {line.removeprefix("+") for line in outcome.patch.splitlines() if line.startswith("+/")}
    assert "/workspace/task/statement.md" in seen and "/agent/agent.py" in seen, outcome
    assert any(path.startswith("/workspace/repo/") for path in seen)
    assert not {path for path in seen if Path(path).name in HIDDEN}
    assert outcome.status == "unresolved", outcome  # graded with the tests restored: the stub still fails


def test_the_import_command(tmp_path: Path) -> None:
    done = CliRunner().invoke(data_app, ["import", "polyglot", str(FIXTURE), "--dest", str(tmp_path / "p")])
    assert done.exit_code == 0 and "imported 3 exercises" in done.output, done.output
    assert (tmp_path / "p/python/exercises/practice/clock-angle/clock_angle_test.py").exists()
    refused = CliRunner().invoke(data_app, ["import", "polyglot", str(tmp_path), "--dest", str(tmp_path / "q")])
    assert refused.exit_code != 0 and "polyglot-benchmark" in refused.output and not (tmp_path / "q").exists()


@pytest.mark.model
def test_a_campaign_runs_its_first_stage_on_polyglot(evaluator: Polyglot, first_stage_campaign) -> None:
    options = {"path": str(evaluator.root), "agent_timeout_s": 180}  # the embedded model is slow on a loaded machine
    root = first_stage_campaign("polyglot", options, subset=",".join(RUNNABLE))
    with Archive.open(root, readonly=True) as archive:
        (seed,) = archive.nodes(kind="agent")
        results = {r.task_id: r for r in archive.results(seed.id)}
        assert set(results) == set(RUNNABLE), results
        assert all(r.trajectory_path for r in results.values())
        assert archive.cost(seed.id).calls > 0 and archive.node(seed.id).status == "evaluated"
