"""`opendgm export --swebench-predictions`: the file loads with swebench's own predictions loader, and its
patches re-grade the miniature instance (tests/fixtures/swebench_mini) as they were graded in the campaign."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendgm.archive import Archive, ResultRecord
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.swebench import SWEBench
from tests.evaluators.test_swebench import INSTANCE_ID, dataset  # noqa: F401  (the module's dataset fixture: image built, removed)

Agents = tuple[Path, str, str]
FIELDS = {"instance_id", "model_name_or_path", "model_patch"}  # what the harness reads from each prediction


@pytest.fixture
def agents(dataset: Path, tmp_path: Path) -> Iterator[Agents]:  # noqa: F811
    """A campaign with two agents that completed a one-task stage on the instance: one with the gold patch (the
    best agent by DGM's full-evaluation rule), one that produced nothing."""
    evaluator = SWEBench(dataset)
    (task,) = evaluator.select("all")
    code = tmp_path / "code"
    code.mkdir()
    root = tmp_path / "campaign"
    with Archive.create(root, "preds") as archive:
        ids = []
        runs = (("gold", evaluator.reference_patch(task), "resolved"), ("empty", "", "empty_patch"))
        for name, patch, status in runs:
            (code / "agent.py").write_text(f"# {name}\n")
            node = archive.add_agent(code, operator="seed")
            archive.set_status(node.id, "evaluating")
            archive.record_stage(node.id, evaluator.name, evaluator.version, "full", [INSTANCE_ID])
            path = archive.artifacts.put(f"{node.id}/{INSTANCE_ID}.patch", patch) if patch else None
            archive.record_result(ResultRecord(node.id, evaluator.key, INSTANCE_ID, status=status, patch_path=path))
            archive.set_status(node.id, "evaluated")
            ids.append(node.id)
    yield root, ids[0], ids[1]


def export(root: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opendgm.cli", "export", str(root), "--swebench-predictions", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.docker
def test_predictions_load_with_swebench_and_regrade_the_instance(
    agents: Agents,
    dataset: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    from swebench.harness.utils import get_predictions_from_file  # seconds to import: only where used

    root, gold, empty = agents
    evaluator = SWEBench(dataset)
    (task,) = evaluator.select("all")
    for node, extra, wanted in ((gold, (), "resolved"), (empty, ("--node", empty), "unresolved")):
        out = tmp_path / f"{node}.jsonl"
        done = export(root, out, *extra)
        assert done.returncode == 0, done.stderr
        assert f"wrote 1 predictions of {node}" in done.stderr
        (prediction,) = get_predictions_from_file(str(out), str(dataset), "test")
        assert set(prediction) == FIELDS
        assert prediction["instance_id"] == INSTANCE_ID and prediction["model_name_or_path"] == f"opendgm/preds/{node}"
        graded = grade_patch(evaluator, task, prediction["model_patch"], "docker", "test-swebench-preds")
        assert graded.status == wanted, graded.output


def test_without_a_best_agent_the_export_says_to_name_one(tmp_path: Path) -> None:
    root = tmp_path / "campaign"
    Archive.create(root, "none").close()
    done = export(root, tmp_path / "p.jsonl")
    assert done.returncode == 2 and "no best agent to export" in done.stderr and "--node" in done.stderr
    assert "Traceback" not in done.stderr
