"""`opendgm evaluate` end to end with the embedded SmolLM2 on 5 HumanEval tasks in Docker, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from opendgm.archive import Archive


@pytest.mark.model
@pytest.mark.slow
def test_embedded_model_runs_five_tasks_end_to_end(docker_engine: str, embedded_model: None, tmp_path: Path) -> None:
    campaign = tmp_path / "campaign"
    command = [sys.executable, "-m", "opendgm.cli", "evaluate", "seed", "--subset", "small", "--limit", "5"]
    done = subprocess.run(
        [*command, "--campaign", str(campaign), "--backend", "docker"], capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "resolved" in done.stdout and "model calls" in done.stdout
    with Archive.open(campaign, readonly=True) as archive:
        (node,) = archive.nodes(kind="agent")
        results = archive.results(node.id)
        assert len(results) == 5
        for result in results:
            assert result.status in {"resolved", "unresolved", "empty_patch", "agent_timeout", "patch_failed"}, (
                result.status,
                result.detail,
            )
            records = [json.loads(line) for line in archive.artifacts.read_text(result.trajectory_path).splitlines()]
            assert records[0]["type"] == "start" and any(r["type"] == "model" for r in records)
            assert result.tokens > 0
        spent = archive.cost(node.id)
        assert spent.calls >= 5 and spent.prompt_tokens > 0 and spent.completion_tokens > 0
        assert spent.errors == 0
        assert archive.node(node.id).status == "evaluated"
