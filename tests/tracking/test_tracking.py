"""Experiment tracking against real stores: MLflow's local SQLite store and W&B in offline mode.

The archive is written as a campaign writes it (nodes scored, rejected, model calls charged) while
`follow` runs; the stores are then read back with MLflow's client and W&B's own transaction-log records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from opendgm.evolve.config import CampaignConfig
from opendgm.llm.ledger import CallRecord
from opendgm.tracking import follow
from opendgm.tracking.trackers import remembered
from tests.support.archive_helpers import write_tree
from tests.support.wandb_log import config as wandb_config
from tests.support.wandb_log import history as wandb_history

TASKS = [f"t{i}" for i in range(6)]


def campaign_config(tracking: dict) -> CampaignConfig:
    model = {"model": "openai/none", "api_base": "http://127.0.0.1:9"}
    return CampaignConfig.model_validate(
        {"name": "tracked", "llm": {"roles": {"agent": model, "meta": model}}, "generations": 3, "tracking": tracking}
    )


def scored(archive: Archive, work: Path, parent: str | None, solved: int, version: int) -> str:
    """An agent that is built, evaluated on six tasks (`solved` resolved) and charged one paid model call."""
    node = archive.add_agent(write_tree(work / "code", {"agent.py": f"v = {version}\n"}), parent, operator="seed")
    archive.ledger.record(CallRecord(archive.campaign, node.id, "agent", "agent", "m", "ok", 100, 50, 0.01 * version))
    archive.set_status(node.id, "evaluating")
    archive.record_stage(node.id, "toy", "1", "small", TASKS)
    for index, task in enumerate(TASKS):
        archive.record_result(
            ResultRecord(node.id, EvaluatorKey("toy", "1"), task, status="resolved" if index < solved else "unresolved")
        )
    archive.set_status(node.id, "evaluated")
    return node.id


def until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_mlflow_sqlite_store_gets_config_node_scores_and_spend_live_and_on_resume(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = campaign_config({"kind": "mlflow", "uri": uri, "experiment": "opendgm-test", "interval_s": 0.2})
    root = tmp_path / "campaign"
    client = MlflowClient(tracking_uri=uri)

    def scores(run_id: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in client.get_metric_history(run_id, "node/score"))

    with Archive.create(root, "tracked") as archive:
        with follow(config, archive):
            seed = scored(archive, tmp_path, None, 2, 1)
            run_id = remembered(root, "mlflow")
            until(lambda: len(scores(run_id)) == 1, "the seed's score, sent while the campaign runs")
            child = scored(archive, tmp_path, seed, 5, 2)
            rejected = archive.propose("agent", seed, operator="self_improve")
            archive.set_status(rejected.id, "rejected", "the child does not compile")
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.experiment_id
        assert run.data.params["name"] == "tracked" and run.data.params["generations"] == "3"
        assert run.data.params["tracking.kind"] == "mlflow" and run.data.params["selector"] == "score_child_prop"
        assert [value for _, value in scores(run_id)] == pytest.approx([2 / 6, 5 / 6])
        seqs = {m.step: m.value for m in client.get_metric_history(run_id, "node/seq")}
        statuses = {seqs[m.step]: m.value for m in client.get_metric_history(run_id, "node/status")}
        assert statuses == {1.0: 1.0, 2.0: 1.0, 3.0: 0.0}  # the rejected child reported as 0
        spend = client.get_metric_history(run_id, "campaign/spend_usd")
        assert max(m.value for m in spend) == pytest.approx(archive.ledger.totals().cost_usd) == pytest.approx(0.03)
        tokens = client.get_metric_history(run_id, "spend/agent/tokens")
        assert max(m.value for m in tokens) == 300
        best = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "campaign/best_seq"))
        assert [value for _, value in best] == [1.0, 2.0, 2.0]  # the seed, until its better child was scored

        with follow(config, archive):  # the campaign resumes: same run, nothing reported twice
            scored(archive, tmp_path, child, 6, 3)
        assert remembered(root, "mlflow") == run_id
        assert [value for _, value in scores(run_id)] == pytest.approx([2 / 6, 5 / 6, 1.0])
        assert client.get_run(run_id).info.status == "FINISHED"


def test_wandb_offline_run_gets_config_node_scores_and_spend(tmp_path: Path) -> None:
    config = campaign_config({"kind": "wandb", "mode": "offline", "experiment": "opendgm-test", "interval_s": 0.2})
    root = tmp_path / "campaign"
    with Archive.create(root, "tracked") as archive, follow(config, archive):
        seed = scored(archive, tmp_path, None, 2, 1)
        scored(archive, tmp_path, seed, 5, 2)
    (log,) = (root / "wandb").glob("offline-run-*/run-*.wandb")
    rows = [row for row in wandb_history(log) if "node/seq" in row]
    assert [row["node/seq"] for row in rows] == [1, 2]
    assert [row["node/score"] for row in rows] == pytest.approx([2 / 6, 5 / 6])
    assert rows[-1]["campaign/spend_usd"] == pytest.approx(0.03) and rows[-1]["spend/agent/tokens"] == 300
    assert rows[-1]["campaign/best_seq"] == 2
    settings = wandb_config(log)
    assert settings["name"] == "tracked" and settings["tracking"]["kind"] == "wandb", settings


def test_a_missing_store_is_one_clear_error_before_the_campaign_starts(tmp_path: Path) -> None:
    from opendgm.tracking.trackers import TrackingUnavailable

    (tmp_path / "a-file").write_text("not a directory")
    config = campaign_config({"kind": "mlflow", "uri": f"sqlite:///{tmp_path}/a-file/mlflow.db"})
    with (
        Archive.create(tmp_path / "c", "tracked") as archive,
        pytest.raises(TrackingUnavailable, match="MLflow at"),
        follow(config, archive),
    ):
        pytest.fail("the block must not run without its tracker")
