"""Creating and opening: schema migrations, bad directories, one writer, read-only readers."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from opendgm.archive import SCHEMA_VERSION, Archive, ArchiveError, EvaluatorKey, ResultRecord
from opendgm.archive.schema import migrate
from tests.support.archive_helpers import write_tree


def _set_version(campaign_dir: Path, version: int) -> None:
    with closing(sqlite3.connect(campaign_dir / "archive.sqlite")) as conn:
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()


def test_an_older_archive_is_migrated_on_open(campaign_dir: Path, tmp_path: Path) -> None:
    """An archive written by code that knew only the first migration (nodes and events, no results or
    ledger tables) opens, is migrated, keeps its rows, and gains the newer tables."""
    with Archive.create(campaign_dir, "old") as archive:
        node = archive.add_agent(write_tree(tmp_path / "code", {"a.py": "1\n"}), operator="seed")
    old_db = campaign_dir / "archive.sqlite"
    old_db.unlink()
    with closing(sqlite3.connect(old_db, isolation_level=None)) as conn:
        migrate(conn, target=1)
        conn.execute("INSERT INTO meta VALUES ('campaign', 'old')")
        conn.execute(
            "INSERT INTO nodes (id, seq, kind, status, operator, commit_sha, code_hash, created_at, updated_at)"
            " VALUES (?, 1, 'agent', 'built', 'seed', ?, ?, 0, 0)",
            (node.id, node.commit, node.code_hash),
        )
        assert {row[0] for row in conn.execute("SELECT name FROM sqlite_master")} >= {"nodes", "events"}
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'results'").fetchone() is None
    with pytest.raises(ArchiveError, match=r"older than .*open it once for writing"):
        Archive.open(campaign_dir, readonly=True)
    with Archive.open(campaign_dir) as archive:
        assert archive.node(node.id).code_hash == node.code_hash
        archive.record_stage(node.id, "eval", "1", "small", ["t1"])
        archive.record_result(ResultRecord(node.id, EvaluatorKey("eval", "1"), "t1", status="resolved"))
        assert archive.best_score(node.id) == 1.0
        assert archive.ledger.totals().calls == 0
    with closing(sqlite3.connect(old_db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_archive_is_refused_clearly(archive: Archive, campaign_dir: Path) -> None:
    archive.close()
    _set_version(campaign_dir, SCHEMA_VERSION + 1)
    for readonly in (False, True):
        with pytest.raises(ArchiveError, match=f"version {SCHEMA_VERSION + 1} is newer.*upgrade opendgm"):
            Archive.open(campaign_dir, readonly=readonly)


def test_missing_or_corrupt_campaigns_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="the directory does not exist"):
        Archive.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArchiveError, match=r"not an opendgm campaign archive: archive.sqlite, agents.git missing"):
        Archive.open(tmp_path / "empty")

    garbage = tmp_path / "garbage"
    Archive.create(garbage, "x").close()
    (garbage / "archive.sqlite").write_bytes(b"this is not a database" * 200)
    for readonly in (False, True):
        with pytest.raises(ArchiveError, match="is not a readable archive database"):
            Archive.open(garbage, readonly=readonly)

    foreign = tmp_path / "foreign"
    Archive.create(foreign, "x").close()
    (foreign / "archive.sqlite").unlink()
    with closing(sqlite3.connect(foreign / "archive.sqlite")) as conn:
        conn.execute("CREATE TABLE unrelated (x)")
    with pytest.raises(ArchiveError, match="holds no archive schema"):
        Archive.open(foreign)

    broken_git = tmp_path / "broken-git"
    Archive.create(broken_git, "x").close()
    for child in (broken_git / "agents.git").iterdir():
        if child.is_file():
            child.unlink()
    with pytest.raises(ArchiveError, match=r"agents\.git is not a git repository"):
        Archive.open(broken_git)


def test_create_refuses_an_occupied_directory(tmp_path: Path) -> None:
    write_tree(tmp_path / "busy", {"mine.txt": "keep"})
    with pytest.raises(ArchiveError, match="exists and is not an empty directory"):
        Archive.create(tmp_path / "busy", "c")
    (tmp_path / "fresh").mkdir()
    with Archive.create(tmp_path / "fresh", "c") as archive:
        assert archive.campaign == "c" and archive.meta()["campaign"] == "c"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "fresh"]  # no staging leftovers


def test_one_writer_at_a_time_and_readers_cannot_write(archive: Archive, campaign_dir: Path) -> None:
    with pytest.raises(ArchiveError, match=r"already open for writing \(writer pid \d+\)"):
        Archive.open(campaign_dir)
    with Archive.open(campaign_dir, readonly=True) as reader:
        assert reader.readonly and reader.campaign == "test-campaign"
        with pytest.raises(ArchiveError, match="opened read-only"):
            reader.log_event("nope")
        with pytest.raises(ArchiveError, match="opened read-only"):
            reader.artifacts.put("x.txt", "nope")
    archive.close()
    with Archive.open(campaign_dir) as writer:  # the lock is released on close
        assert not writer.readonly
