"""Invariant 3 (state durable before it is acted on) end to end: a campaign SIGKILLed at random moments and
resumed ends as if never killed."""

from __future__ import annotations

from pathlib import Path

from tests.support.crash_harness import CampaignProcess, crash_and_resume, crash_config, snapshot, violations
from tests.support.scripted_models import CapabilityScript

KILLS, GENERATIONS, SEED = 3, 1, 0


def test_killed_campaign_resumes_to_the_uninterrupted_result(
    script: CapabilityScript, docker_engine: str, tmp_path: Path
) -> None:
    reference = CampaignProcess(crash_config(script, "docker", GENERATIONS), tmp_path / "reference")
    finished = reference.run(timeout_s=120)
    assert (finished.code, finished.reason) == (0, f"done: {GENERATIONS} generations"), reference.log_path.read_text()
    expected = snapshot(reference.root)

    crashed = CampaignProcess(crash_config(script, "docker", GENERATIONS), tmp_path / "crashed")
    run = crash_and_resume(crashed, script, finished, KILLS, SEED, timeout_s=120)
    assert run.kills == KILLS, f"the campaign finished before kill {run.kills + 1}"
    assert violations(expected, run, GENERATIONS) == []
