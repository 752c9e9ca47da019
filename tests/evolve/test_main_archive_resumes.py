"""Behaviour unchanged across the session refactor: a campaign directory written by main ae56e02 (before it;
tests/fixtures/archives/make_main_campaign.py) opens with the current code, keeps its nodes, statuses and
scores, and resumes with one more generation."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from opendgm.archive import Archive
from opendgm.evolve.campaign import run_campaign
from opendgm.evolve.config import CampaignConfig
from tests.support.scripted_models import CapabilityScript

FIXTURE = Path(__file__).parents[1] / "fixtures" / "archives" / "main-ae56e02.tar.gz"
STAGE = "1:HumanEval_0,HumanEval_2"


def unpacked(into: Path) -> Path:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(into, filter="data")
    return into / "campaign"


def test_a_campaign_written_by_main_before_the_refactor_opens_and_resumes(
    script: CapabilityScript, local_isolation: None, tmp_path: Path
) -> None:
    root = unpacked(tmp_path)
    with Archive.open(root, readonly=True) as archive:
        before = {node.id: (node.kind, node.operator, node.status) for node in archive.nodes()}
        scores = {node: [(s.stage, s.score) for s in made] for node, made in archive.scores_by_node().items()}
    assert before["n0004"] == ("agent", "seed", "evaluated")
    assert before["n0005"] == ("agent", "self_improve", "evaluated")
    assert scores["n0004"] == [(STAGE, 0.0)] and scores["n0005"] == [(STAGE, 1.0)]

    fields = json.loads((root / "FIELDS.json").read_text())
    role = {"model": "openai/scripted", "api_base": script.base_url, "max_tokens": 64, "timeout_s": 10}
    fields["llm"]["roles"] = {"agent": role, "meta": role}
    assert run_campaign(CampaignConfig.model_validate(fields | {"generations": 2}), root) == "done: 2 generations"

    with Archive.open(root, readonly=True) as archive:
        after = {node.id: (node.kind, node.operator, node.status) for node in archive.nodes()}
        assert {node: after[node] for node in before} == before, "the old nodes keep their states"
        new = [node for node in archive.nodes(kind="agent") if node.id not in before]
        assert len(new) == 1 and new[0].status in ("evaluated", "rejected"), new
        assert new[0].parent_id in ("n0004", "n0005")
        assert archive.event_count("generation") == 2
        kept = {node: [(s.stage, s.score) for s in archive.scores_by_node()[node]] for node in scores}
        assert kept == scores, "stored scores read the same, with no result duplicated or re-run"
