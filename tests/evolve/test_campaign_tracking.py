"""A real campaign (scripted model, real sandboxes) with `tracking: {kind: mlflow}` fills a local MLflow store
as it runs: the campaign config, and a score for each node it evaluated."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from opendgm.archive import Archive
from opendgm.evolve.campaign import run_campaign
from opendgm.tracking.trackers import remembered
from tests.evolve.test_campaign import config
from tests.support.scripted_models import CapabilityScript


def test_a_campaign_reports_to_mlflow_through_the_observer_seam(
    script: CapabilityScript, local_isolation: None, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracked = config(script, "local", tracking={"kind": "mlflow", "uri": uri, "interval_s": 0.5})
    assert run_campaign(tracked, tmp_path / "c") == "done: 1 generations"
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        wanted = {int(row.id[1:]): row.score for row in archive.summaries() if row.status == "evaluated"}
        spent = archive.ledger.totals().cost_usd
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(remembered(tmp_path / "c", "mlflow"))
    assert run.info.status == "FINISHED" and run.data.params["name"] == "scripted"
    seqs = {m.step: int(m.value) for m in client.get_metric_history(run.info.run_id, "node/seq")}
    scores = {seqs[m.step]: m.value for m in client.get_metric_history(run.info.run_id, "node/score")}
    assert scores == pytest.approx(wanted) and len(wanted) == 2  # the seed and its child
    spend = client.get_metric_history(run.info.run_id, "campaign/spend_usd")
    assert max(m.value for m in spend) == pytest.approx(spent) and spent > 0
