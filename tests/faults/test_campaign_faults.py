"""Issue 13, case 1 across every agent-campaign operator: a model service failing during diagnosis, the parent's
self-modification, PE2 or hyper-mutation (500s past the retries, a 429 burst, a truncated answer) is an event.
The campaign stops with exit code 4, no child is failed or rejected for it, and after a resume with a healthy
service the archive is the one an undisturbed run makes (nodes, statuses, code hashes, verdicts)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from opendgm.archive import Archive
from opendgm.evolve.campaign import open_campaign
from opendgm.evolve.config import CampaignConfig
from tests.evolve.test_campaign import config
from tests.support.fault_models import FaultyScript

pytestmark = pytest.mark.docker
# One first-stage task; seed 2 draws one child of each operator (hyper_mutation, self_improve, pe2) whose
# self_improve child learns from a failed task (so its diagnosis asks the meta model).
OPERATORS = {"self_improve": 1.0, "pe2": 1.0, "hyper_mutation": 1.0}


def campaign_config(provider: FaultyScript) -> CampaignConfig:
    return config(
        provider, "docker", name=f"faults-{uuid.uuid4().hex[:6]}", seed=2, operators=OPERATORS,
        children_per_generation=3, stages=[{"subset": "HumanEval_0"}],
    )  # fmt: skip


def fingerprint(root: Path) -> tuple[tuple, tuple]:
    """What must match an undisturbed run: every node (id, kind, operator, parent, status, code hash) and every
    verdict (code hash, task, status)."""
    with Archive.open(root, readonly=True) as archive:
        nodes = tuple((n.id, n.kind, n.operator, n.parent_id, n.status, n.code_hash) for n in archive.nodes())
        verdicts = tuple(
            sorted(
                {(r.code_hash, r.task_id, r.status) for n in archive.nodes(kind="agent") for r in archive.results(n.id)}
            )
        )
    return nodes, verdicts


def test_model_service_failures_in_every_operator_are_events_and_resume_matches_undisturbed(
    docker_engine: str, tmp_path: Path
) -> None:
    healthy = FaultyScript()
    try:
        with open_campaign(campaign_config(healthy), tmp_path / "undisturbed") as undisturbed:
            assert undisturbed.run() == "done: 1 generations" and undisturbed.exit_code == 0
    finally:
        healthy.stop()
    reference = fingerprint(tmp_path / "undisturbed")
    assert {op for _, kind, op, *_ in reference[0] if op} >= {"self_improve", "pe2", "hyper_mutation"}

    faulty = FaultyScript()
    try:
        cfg = campaign_config(faulty)
        faulty.inject("diagnosis", "500")  # the config retries once only: this is past the retries
        faulty.inject("pe2", "429")
        faulty.inject("hyper_mutation", "malformed")
        with open_campaign(cfg, tmp_path / "c") as first:
            reason = first.run()
        assert first.exit_code == 4 and "infrastructure failure" in reason, reason
        assert {("diagnosis", "500"), ("pe2", "429"), ("hyper_mutation", "malformed")} <= set(faulty.fired)
        _assert_nothing_judged_for_it(tmp_path / "c")

        faulty.inject("self_modify", "restart")  # the parent's own calls fail during its self-modification
        with open_campaign(cfg, tmp_path / "c") as second:
            reason = second.run()
        assert second.exit_code == 4 and "model_service" in reason, reason
        assert ("self_modify", "restart") in faulty.fired
        _assert_nothing_judged_for_it(tmp_path / "c")

        with open_campaign(cfg, tmp_path / "c") as resumed:
            assert resumed.run() == "done: 1 generations" and resumed.exit_code == 0
    finally:
        faulty.stop()
    assert fingerprint(tmp_path / "c") == reference


def _assert_nothing_judged_for_it(root: Path) -> None:
    with Archive.open(root, readonly=True) as archive:
        judged = [(n.id, n.status, n.status_reason) for n in archive.nodes() if n.status in ("failed", "rejected")]
        assert judged == [], judged
        assert [e for e in archive.events() if e.kind == "infrastructure_failure"], "the failure is on record"
