"""Invariant 3 (state durable before it is acted on): a writer SIGKILLed at any instant leaves an archive that
opens with every committed record intact and nothing half-written; the crash windows of adding an agent are
recovered."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import closing
from pathlib import Path

import pytest

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from opendgm.archive.gitstore import GitStore
from tests.support.archive_helpers import write_tree

ROOT = Path(__file__).parents[2]


def _run_until_killed(campaign_dir: Path, seed: int, min_nodes: int) -> dict[str, list[str]]:
    """Run the crash writer, SIGKILL it at a random moment after `min_nodes` nodes; return what it
    reported as committed ("node" -> ids, "result" -> ids, ...)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_writer", str(campaign_dir), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    committed: dict[str, list[str]] = defaultdict(list)
    assert writer.stdout is not None
    for line in writer.stdout:
        kind, value = line.split()
        committed[kind].append(value)
        if len(committed["node"]) >= min_nodes:
            break
    time.sleep(random.Random(seed).uniform(0.0, 0.3))
    writer.send_signal(signal.SIGKILL)
    rest, stderr = writer.communicate()
    assert writer.returncode == -signal.SIGKILL, stderr
    for line in rest.splitlines():
        kind, value = line.split()
        committed[kind].append(value)
    return committed


def test_sigkilled_writer_loses_and_duplicates_nothing(campaign_dir: Path, tmp_path: Path) -> None:
    Archive.create(campaign_dir, "crashy").close()
    for seed in range(3):  # three kills at different moments, each followed by a resume
        committed = _run_until_killed(campaign_dir, seed, min_nodes=4 + 3 * seed)
        with Archive.open(campaign_dir) as archive:  # the dead writer's lock is gone with it
            nodes = {node.id: node for node in archive.nodes()}
            assert set(committed["node"]) <= set(nodes)
            assert set(committed["evaluated"]) <= {n for n, node in nodes.items() if node.status == "evaluated"}
            refs = GitStore(campaign_dir / "agents.git").node_refs()
            assert refs == {node_id: node.commit for node_id, node in nodes.items()}
            for node_id, node in nodes.items():  # every row's code is there and is what was added
                dest = archive.materialize(node_id, tmp_path / f"round{seed}" / node_id)
                assert (dest / "agent.py").read_text() == f"# {node.meta['seed']}-{node.meta['step']}\n"
            all_results = [result for node_id in nodes for result in archive.results(node_id)]
            keys = {(r.code_hash, r.evaluator, r.evaluator_version, r.task_id, r.attempt) for r in all_results}
            result_ids = {str(result.id) for result in all_results}
            assert set(committed["result"]) <= result_ids
            for result in all_results:  # a recorded trajectory is a complete file
                assert archive.artifacts.read_text(result.trajectory_path).strip("x") == ""
            recorded_calls = {call.id for call in archive.ledger.calls()}
            assert set(committed["call"]) <= recorded_calls
            assert not list((campaign_dir / "artifacts").rglob(".partial-*"))
        with closing(sqlite3.connect(campaign_dir / "archive.sqlite")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            assert conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == len(keys) == len(result_ids)
            assert conn.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0] == len(recorded_calls)


def test_git_objects_without_a_row_are_ignored(archive: Archive, campaign_dir: Path, tmp_path: Path) -> None:
    """Killed after git wrote the commit but before the SQLite row: no node, no ref, nothing dangling."""
    root = archive.add_agent(write_tree(tmp_path / "a", {"a.py": "1\n"}))
    orphan, _ = GitStore(campaign_dir / "agents.git").commit_dir(
        write_tree(tmp_path / "b", {"a.py": "2\n"}), root.commit, "never registered"
    )
    archive.close()
    with Archive.open(campaign_dir) as reopened:
        assert [node.id for node in reopened.nodes()] == [root.id]
        assert GitStore(campaign_dir / "agents.git").node_refs() == {root.id: root.commit}
        child = reopened.add_agent(tmp_path / "b", root.id)  # the same code again: a normal new node
        assert child.id == "n0002" and "+2" in reopened.diff_to_parent(child.id)
        assert GitStore(campaign_dir / "agents.git").read_commits([orphan])[orphan] is not None  # harmless garbage


def test_a_row_whose_ref_was_not_written_gets_its_ref_back(archive: Archive, campaign_dir: Path, tmp_path: Path):
    """Killed after the SQLite commit but before the ref update: the next writer restores the ref. A ref
    with no row (not something the archive writes) is removed; half-written artifacts are deleted."""
    node = archive.add_agent(write_tree(tmp_path / "a", {"a.py": "1\n"}))
    archive.close()
    git = ["git", "--git-dir", str(campaign_dir / "agents.git")]
    subprocess.run([*git, "update-ref", "-d", f"refs/nodes/{node.id}"], check=True)
    subprocess.run([*git, "update-ref", "refs/nodes/n0777", node.commit], check=True)
    partial = campaign_dir / "artifacts" / "n0001" / ".partial-0123-log.txt"
    partial.parent.mkdir(parents=True)
    partial.write_text("half a log")
    with Archive.open(campaign_dir, readonly=True) as reader:  # readers repair nothing
        assert reader.node(node.id).commit == node.commit
    with Archive.open(campaign_dir) as archive:
        assert GitStore(campaign_dir / "agents.git").node_refs() == {node.id: node.commit}
        assert not partial.exists()
        (event,) = [e for e in archive.events() if e.kind == "recovered"]
        expected = {"refs_restored": [node.id], "refs_removed": ["n0777"], "partial_artifacts": 1}
        assert event.data == expected | {"interrupted_model_calls": 0}
        assert (archive.materialize(node.id, tmp_path / "out") / "a.py").read_text() == "1\n"


def test_a_transaction_that_fails_leaves_no_trace(archive: Archive, campaign_dir: Path, tmp_path: Path) -> None:
    code = write_tree(tmp_path / "a", {"a.py": "1\n"})
    events_before = archive.events()
    with pytest.raises(RuntimeError, match="operator crashed"), archive.transaction():
        node = archive.add_agent(code, operator="seed")
        archive.record_stage(node.id, "eval", "1", "small", ["t1"])
        archive.record_result(ResultRecord(node.id, EvaluatorKey("eval", "1"), "t1", status="resolved"))
        raise RuntimeError("operator crashed")
    assert archive.nodes() == [] and archive.events() == events_before
    assert GitStore(campaign_dir / "agents.git").node_refs() == {}  # the ref waits for the commit
    again = archive.add_agent(code, operator="seed")
    assert again.id == "n0001" and GitStore(campaign_dir / "agents.git").node_refs() == {"n0001": again.commit}
