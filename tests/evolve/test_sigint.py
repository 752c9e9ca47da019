"""Ctrl-C stops a campaign at the next durable step, and the campaign resumes to the same end."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from typer.testing import CliRunner

from opendgm.archive import Archive
from opendgm.cli import app
from tests.support.crash_harness import CampaignProcess, crash_config, leftover_containers, snapshot
from tests.support.scripted_models import CapabilityScript


def test_sigint_stops_gracefully_and_the_campaign_resumes(
    script: CapabilityScript, docker_engine: str, tmp_path: Path
) -> None:
    config = crash_config(script, "docker", generations=1)
    process = CampaignProcess(config, tmp_path / "c")
    child = process.start()
    deadline = time.monotonic() + 300  # generous: a loaded machine runs the seed's evaluation slowly
    while not _has_child_node(tmp_path / "c"):  # interrupt once the first generation is under way
        assert child.poll() is None and time.monotonic() < deadline, process.log_path.read_text()
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGINT)
    assert child.wait(timeout=180) == 0
    assert "stopped on request" in process.log_path.read_text().strip().splitlines()[-1]
    interrupted = snapshot(tmp_path / "c")
    assert interrupted.integrity == "ok" and leftover_containers(config.name) == []

    assert process.run(timeout_s=300).reason == "done: 1 generations"
    final = snapshot(tmp_path / "c")
    assert {status for _, kind, _, status, _ in final.nodes if kind == "agent"} == {"evaluated"}
    assert len(final.result_keys) == len(set(final.result_keys))
    assert interrupted.ledger_ids <= final.ledger_ids

    shown = CliRunner().invoke(app, ["status", str(tmp_path / "c")], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "2 (2 evaluated)" in shown.output and "done: 1 generations" in shown.output


def _has_child_node(root: Path) -> bool:
    if not (root / "archive.sqlite").exists():
        return False
    with Archive.open(root, readonly=True) as archive:
        return any(node.operator == "self_improve" for node in archive.nodes(kind="agent"))
