"""Resuming a campaign under a changed config: free changes are recorded, a changed evaluator, version or
stage list is refused with the changed fields named, and accepting it evaluates every agent again while
the old scores stay, marked stale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from opendgm.archive import Archive
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evolve.campaign import run_campaign
from opendgm.evolve.config import CampaignConfig
from opendgm.evolve.config_change import ConfigChangeRefused, compare, read_stored
from opendgm.evolve.display import status_table
from opendgm.evolve.opening import CONFIG_COPY, Setup
from tests.evolve.test_campaign import config
from tests.support.scripted_models import CapabilityScript


def test_fields_are_split_into_free_and_guarded() -> None:
    stored = {"workers": 2, "budget": {"nodes": 3}, "evaluator": {"name": "humaneval", "options": {}}, "stages": [1]}
    new = {"workers": 4, "budget": {"nodes": 9}, "evaluator": {"name": "humaneval", "options": {"x": 1}}, "stages": [2]}
    change = compare(stored, new, "humaneval/1", "humaneval/2")
    assert change.free == ["budget.nodes", "workers"]
    assert change.guarded == ["evaluator.options.x", "stages", "evaluator.version"]
    assert compare(stored, stored, None, "humaneval/2").fields == []


def test_fields_added_by_a_newer_opendgm_are_no_change(tmp_path: Path) -> None:
    llm = {"roles": {"agent": {"model": "openai/x"}, "meta": {"model": "openai/x"}}}
    current = CampaignConfig.model_validate({"llm": llm, "stages": [{"subset": "small"}]}).model_dump(mode="json")
    older = {"llm": llm, "stages": [{"subset": "small"}]}  # written before `threshold` and the rest existed
    (tmp_path / "campaign.yaml").write_text(json.dumps(older))
    assert compare(read_stored(tmp_path / "campaign.yaml"), current, None, "v").fields == []


def _stored_campaign(root: Path, yaml_config: Path) -> None:
    """A campaign directory as a first run leaves it: the archive, its config copy, its start event."""
    first = CampaignConfig.load(yaml_config)
    with Archive.create(root, first.name) as archive:
        (root / CONFIG_COPY).write_text(first.model_dump_json(indent=2))
        archive.log_event("scored_by", data={"evaluator": "humaneval", "evaluator_version": HumanEval.version})


def test_a_changed_stage_list_is_refused_in_one_line_and_the_stored_config_kept(tmp_path: Path) -> None:
    base = "name: c\nllm: {roles: {agent: {model: openai/x}, meta: {model: openai/x}}}\nsandbox: {backend: local}\n"
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(base + "stages: [{subset: 'HumanEval_0'}]\n")
    second.write_text(base + "stages: [{subset: 'HumanEval_0,HumanEval_2'}]\nworkers: 3\n")
    root = tmp_path / "c"
    _stored_campaign(root, first)
    stored = (root / CONFIG_COPY).read_text()
    done = subprocess.run(
        [sys.executable, "-m", "opendgm.cli", "run", str(second), "--dir", str(root)],
        capture_output=True, text=True, timeout=120, env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "changed: stages)" in done.stderr and "--accept-config-change" in done.stderr, done.stderr
    assert "workers" not in done.stderr, "free changes are not reasons to refuse"
    assert (root / CONFIG_COPY).read_text() == stored, "the stored config is never overwritten by a refused run"


def test_an_accepted_change_evaluates_every_agent_again_and_marks_old_scores_stale(
    script: CapabilityScript, local_isolation: None, tmp_path: Path
) -> None:
    root = tmp_path / "c"
    assert run_campaign(config(script, "local"), root) == "done: 1 generations"
    changed = config(script, "local", stages=[{"subset": "HumanEval_0"}], workers=1)
    with pytest.raises(ConfigChangeRefused, match=r"changed: stages\b"):
        run_campaign(changed, root)
    newer = Setup.of(changed)
    newer.evaluator.version = "humaneval/next"  # a new release of the evaluator, as far as the archive can tell
    reason = run_campaign(newer, root, accept_config_change=True)
    assert reason == "done: 1 generations", "no dead end: the agents were scored again"
    with Archive.open(root, readonly=True) as archive:
        agents = [node for node in archive.nodes(kind="agent") if node.status == "evaluated"]
        assert len(agents) == 2
        for node in agents:
            keys = {(s.evaluator_version, s.stage, s.complete) for s in archive.scores(node.id)}
            assert ("humaneval/next", "1:HumanEval_0", True) in keys, keys
        stale = archive.stale_scores()
        assert stale and all(version != "humaneval/next" for _, version, _ in stale)
        screen = Console(record=True, width=300)
        screen.print(status_table(archive))
        assert f"{len(stale)} stage score(s) from before an accepted config change" in screen.export_text()
        changes = [e.data for e in archive.latest_events(10, kind="config_changed")]
    assert changes[-1]["guarded"] == ["stages", "evaluator.version"]
    assert "workers" in changes[-1]["changed"]
    assert json.loads((root / changes[-1]["previous_config"]).read_text())["workers"] == 2
    shown = subprocess.run(
        [sys.executable, "-m", "opendgm.cli", "tree", str(root)], capture_output=True, text=True, timeout=60,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert shown.returncode == 0 and "1:HumanEval_0,HumanEval_2 0.00 (0/2) stale" in shown.stdout, shown.stdout
