"""`opendgm tree | show | diff | export` against a real archive, read-only while its writer is open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from opendgm.archive.cli import app
from opendgm.llm.ledger import CallRecord
from opendgm.usage import UsageMistake
from tests.support.archive_helpers import write_tree

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.fixture
def campaign(archive: Archive, tmp_path: Path) -> Archive:
    """n0001 root (small 2/4) -> n0002 improved (small 3/4, medium 3/6 so far), n0003 rejected;
    n0004 a meta-prompt that produced n0002."""
    root = archive.add_agent(write_tree(tmp_path / "a", {"agent.py": "v = 1\n"}), operator="seed", message="seed")
    child = archive.add_agent(
        write_tree(tmp_path / "b", {"agent.py": "v = 2\n", "tools/edit.py": "def edit(): ...\n"}),
        root.id,
        operator="self_improve",
        meta={"problem_statement": "The agent gives up on long files; add a paged file viewer."},
    )
    rejected = archive.add_agent(write_tree(tmp_path / "c", {"agent.py": "v = 3\n"}), root.id, operator="self_improve")
    archive.set_status(rejected.id, "rejected", "empty patch on 3 of 4 tasks")
    meta_prompt = archive.add_node("meta_prompt", "Diagnose, then propose one change.", operator="seed")
    archive.add_edge(child.id, meta_prompt.id, "produced_by")
    tasks = ["t1", "t2", "t3", "t4"]
    for node, resolved in ((root.id, {"t1", "t2"}), (child.id, {"t1", "t2", "t3"})):
        archive.set_status(node, "evaluating")
        archive.record_stage(node, "humaneval", "1.0", "small", tasks)
        for task in tasks:
            trajectory = archive.artifacts.put(f"{node}/{task}.jsonl", '{"step": 1}\n')
            status = "resolved" if task in resolved else "unresolved"
            archive.record_result(
                ResultRecord(
                    node,
                    EvaluatorKey("humaneval", "1.0"),
                    task,
                    status=status,
                    trajectory_path=trajectory,
                    duration_s=1.5,
                )
            )
    archive.record_stage(child.id, "humaneval", "1.0", "medium", [*tasks, "t5", "t6"])
    archive.set_status(root.id, "evaluated")
    archive.ledger.record(
        CallRecord(archive.campaign, child.id, "self_improve", "diagnose", "m", "ok", 1200, 300, 0.03)
    )
    return archive


def _invoke(*args: str | Path) -> str:
    result = runner.invoke(app, [str(arg) for arg in args], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def test_tree_nests_children_and_shows_scores_per_stage(campaign: Archive, campaign_dir: Path) -> None:
    lines = _invoke("tree", campaign_dir).splitlines()
    assert lines[0] == "campaign test-campaign (4 nodes)"
    root = next(line for line in lines if "── n0001" in line)  # not the best-agent line, which names it too
    child = next(line for line in lines if "n0002" in line)
    rejected = next(line for line in lines if "n0003" in line)
    assert "agent evaluated seed  small 0.50 (2/4)" in root
    assert "self_improve  small 0.75 (3/4) · medium 0.50 (3/6, 4 done)" in child
    assert "rejected" in rejected and "empty patch on 3 of 4 tasks" in rejected
    indent = child.index("n0002")
    assert indent > root.index("n0001") and rejected.index("n0003") == indent  # both under the root
    assert lines.index(child) < lines.index(rejected)
    assert "n0004 meta_prompt built seed" in lines[-1]


def test_show_has_scores_tasks_diff_problem_statement_and_cost(campaign: Archive, campaign_dir: Path) -> None:
    out = _invoke("show", campaign_dir, "2")
    assert "n0002 (agent)" in out and "self_improve" in out and "parent" in out and "n0001" in out
    assert "n0002 produced_by n0004" in out
    assert "$0.0300, 1500 tokens (1200 in, 300 out), 1 model calls, 0 errors" in out
    assert str(campaign.artifacts.root) in out and "n0002/t1.jsonl" in out
    assert "small" in out and "3/4" in out and "medium" in out and "3/6" in out and "4/6" in out
    assert out.count("resolved") >= 3 and "unresolved" in out
    assert "add a paged file viewer" in out
    assert "diff against n0001" in out and "+v = 2" in out and "-v = 1" in out and "+def edit(): ..." in out
    meta_prompt = _invoke("show", campaign_dir, "n0004")
    assert "Diagnose, then propose one change." in meta_prompt and "(meta_prompt)" in meta_prompt


def test_diff_between_two_nodes(campaign: Archive, campaign_dir: Path) -> None:
    out = _invoke("diff", campaign_dir, "3", "n0002")
    assert "-v = 3" in out and "+v = 2" in out and "tools/edit.py" in out
    assert runner.invoke(app, ["diff", str(campaign_dir), "2", "2"]).output.strip() == "no differences"


def test_export_json_and_dot(campaign: Archive, campaign_dir: Path, tmp_path: Path) -> None:
    document = json.loads(_invoke("export", campaign_dir, "--format", "json"))
    assert document["campaign"] == "test-campaign"
    nodes = {node["id"]: node for node in document["nodes"]}
    assert list(nodes) == ["n0001", "n0002", "n0003", "n0004"]
    assert (nodes["n0002"]["depth"], nodes["n0002"]["meta"]["problem_statement"][:9]) == (1, "The agent")
    assert [(s["stage"], s["n_resolved"], s["n_tasks"]) for s in nodes["n0002"]["scores"]] == [
        ("small", 3, 4),
        ("medium", 3, 6),
    ]
    assert nodes["n0003"]["status_reason"] == "empty patch on 3 of 4 tasks"
    assert sorted((e["src"], e["dst"], e["kind"]) for e in document["edges"]) == [
        ("n0001", "n0002", "parent"),
        ("n0001", "n0003", "parent"),
        ("n0002", "n0004", "produced_by"),
    ]
    target = tmp_path / "archive.dot"
    _invoke("export", campaign_dir, "--format", "dot", "--output", target)
    dot = target.read_text()
    assert dot.startswith('digraph "test-campaign" {') and dot.rstrip().endswith("}")
    assert '"n0001" -> "n0002";' in dot and '"n0002" -> "n0004" [style=dashed, label="produced_by"];' in dot
    assert '"n0003" [label="n0003 agent\\nrejected self_improve", color=gray, fontcolor=gray];' in dot


def test_cli_errors_are_one_line_and_exit_2(campaign: Archive, campaign_dir: Path, tmp_path: Path) -> None:
    for args in (["tree", tmp_path / "nowhere"], ["show", campaign_dir, "n0099"], ["diff", campaign_dir, "1", "4"]):
        result = runner.invoke(app, [str(arg) for arg in args], env=WIDE)
        assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output, args
    bad_format = runner.invoke(app, ["export", str(campaign_dir), "--format", "xml"])
    assert isinstance(bad_format.exception, UsageMistake) and "unknown format 'xml'" in str(bad_format.exception)
