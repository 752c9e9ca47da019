"""`opendgm doctor` on real archives damaged the ways a crash or a bad disk damages them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from opendgm.archive.doctor import examine
from opendgm.llm.ledger import PENDING, CallRecord
from tests.support.archive_helpers import write_tree
from tests.support.cli_batch import run_commands

ENV = {"COLUMNS": "400", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}


def doctor(root: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opendgm.cli", "doctor", str(root), *flags],
        capture_output=True, text=True, timeout=120, env=ENV,
    )  # fmt: skip


def campaign(root: Path) -> list[str]:
    """Three agents with graded results on one stage, and one model call."""
    with Archive.create(root, "doctor") as archive:
        nodes: list[str] = []
        for index in range(3):
            code = write_tree(root.parent / f"code{index}", {"agent.py": f"print({index})\n"})
            nodes.append(archive.add_agent(code, nodes[-1] if nodes else None, operator="t").id)
            archive.record_stage(nodes[-1], "ev", "1", "s", ["a", "b"])
            for task, status in (("a", "resolved"), ("b", "unresolved")):
                archive.record_result(ResultRecord(nodes[-1], EvaluatorKey("ev", "1"), task, status=status))
        archive.ledger.record(CallRecord("doctor", nodes[0], "agent", "task", "m", "ok"))
    return nodes


def test_a_sound_archive_is_sound(tmp_path: Path) -> None:
    campaign(tmp_path / "c")
    done = doctor(tmp_path / "c")
    assert done.returncode == 0 and "sound" in done.stdout, done.stdout + done.stderr


def test_crash_leftovers_are_found_and_repaired_without_losing_a_result(tmp_path: Path) -> None:
    root = tmp_path / "c"
    nodes = campaign(root)
    with Archive.open(root) as archive:  # a running campaign, with a model call in flight
        archive.ledger.record(CallRecord("doctor", nodes[1], "agent", "task", "m", PENDING))
        results_before = {node: archive.results(node) for node in nodes}
        assert [f.detail for f in examine(root) if f.check == "ledger"] == [
            "1 model call(s) in flight (the campaign is running)"
        ]
        busy = doctor(root, "--repair")
        assert busy.returncode == 2 and "already open for writing" in busy.stderr, busy.stdout + busy.stderr
    subprocess.run(
        ["git", "--git-dir", str(root / "agents.git"), "update-ref", "-d", f"refs/nodes/{nodes[2]}"], check=True
    )
    with sqlite3.connect(root / "archive.sqlite") as conn:
        conn.execute("UPDATE code_tallies SET passes = 7")
    (tmp_path / ".c.creating-0badc0de").mkdir()
    (root / "artifacts" / ".partial-trajectory").write_text("half")

    found, repaired = run_commands([("doctor", root), ("doctor", root, "--repair")], env=ENV)  # in one process
    assert found.returncode == 1, found.stdout + found.stderr
    for what in (f"refs: node {nodes[2]}", "tallies: code_tallies", "ledger: 1 model call", ".creating-0badc0de",
                 ".partial-trajectory"):  # fmt: skip
        assert what in found.stdout, found.stdout
    assert "--repair" in found.stdout

    assert repaired.returncode == 0 and "sound" in repaired.stdout, repaired.stdout + repaired.stderr
    assert not (tmp_path / ".c.creating-0badc0de").exists()
    with Archive.open(root, readonly=True) as archive:
        assert {node: archive.results(node) for node in nodes} == results_before, "no result is lost"
        assert [row.passes for row in archive.summaries()] == [1, 1, 1]
        assert {c.outcome for c in archive.ledger.calls()} == {"ok", "interrupted"}


def test_damage_that_cannot_be_repaired_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "c"
    nodes = campaign(root)
    with Archive.open(root, readonly=True) as archive:
        commit = archive.node(nodes[1]).commit
    assert commit is not None
    objects = root / "agents.git" / "objects"
    blob = subprocess.run(["git", "hash-object", "--stdin"], input="print(0)\n", capture_output=True, text=True)
    (objects / blob.stdout[:2] / blob.stdout.strip()[2:]).unlink()  # a file of the first node's code
    assert [f.detail for f in examine(root)] == [
        f"blob {blob.stdout.strip()} under node {nodes[0]} is missing from agents.git"
    ]
    (objects / commit[:2] / commit[2:]).unlink()
    done = doctor(root, "--repair")
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert commit in done.stdout + done.stderr

    with sqlite3.connect(root / "archive.sqlite") as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (page,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'results'").fetchone()
    with (root / "archive.sqlite").open("r+b") as handle:
        handle.seek((page - 1) * page_size)
        handle.write(b"\xa5" * page_size)
    done = doctor(root)
    assert done.returncode == 1 and "integrity:" in done.stdout and "Traceback" not in done.stderr, done.stdout
