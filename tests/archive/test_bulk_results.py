"""`Archive.import_results` (the bulk path of the scale benchmarks) writes what `record_result` one by one writes:
the same results, tallies, summaries, scores and events; keys already recorded are skipped; bad input writes
nothing."""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from opendgm.archive import Archive, ArchiveError, EvaluatorKey, ResultImport, ResultRecord
from tests.support.archive_helpers import write_tree

TASKS = [f"t{i}" for i in range(6)]


def evaluated(root: Path, tmp_path: Path) -> tuple[Archive, list[str]]:
    """Three agents (two sharing code), each with a stage over TASKS; results not recorded yet."""
    archive = Archive.create(root, "bulk")
    seed = archive.add_agent(write_tree(tmp_path / "code" / "a", {"a.py": "1\n"}), operator="seed").id
    child = archive.add_agent(write_tree(tmp_path / "code" / "b", {"a.py": "2\n"}), seed, operator="si").id
    twin = archive.add_agent(tmp_path / "code" / "b", seed, operator="si").id  # the child's code: shared results
    for node in (seed, child, twin):
        archive.record_stage(node, "e", "1", "small", TASKS[:4])
    archive.record_stage(child, "e", "1", "all", TASKS)
    return archive, [seed, child, twin]


def table(archive: Archive, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(archive.root / "archive.sqlite")) as conn:
        return conn.execute(sql).fetchall()


def test_bulk_results_equal_one_by_one_results(tmp_path: Path) -> None:
    rng = random.Random(3)
    plan = [
        ResultImport(
            rng.choice(["n0001", "n0002", "n0003"]),
            "e",
            "1",
            rng.choice(TASKS),
            rng.choice(["resolved", "unresolved", "agent_error"]),
            rng.randrange(2),
        )
        for _ in range(40)
    ]  # fmt: skip  (repeated keys: the first one counts, as record_result keeps it)
    one, ids = evaluated(tmp_path / "one", tmp_path / "one-code")
    bulk, same_ids = evaluated(tmp_path / "bulk", tmp_path / "bulk-code")
    assert ids == same_ids == ["n0001", "n0002", "n0003"]
    with one, bulk:
        for entry in plan:
            one.record_result(
                ResultRecord(
                    entry.node_id, EvaluatorKey("e", "1"), entry.task_id, status=entry.status, attempt=entry.attempt
                )
            )
        assert bulk.import_results(plan) == len(table(one, "SELECT id FROM results"))
        assert bulk.import_results(plan[:5]) == 0  # recorded already: skipped
        assert bulk.summaries() == one.summaries() and bulk.scores_by_node() == one.scores_by_node()
        for node in ids:
            assert bulk.scores(node) == one.scores(node)
        for query in (
            "SELECT code_hash, task_id, attempt, node_id, status, resolved FROM results ORDER BY id",
            "SELECT * FROM stage_tallies ORDER BY stage_id",
            "SELECT * FROM code_tallies ORDER BY code_hash",
            "SELECT kind, node_id, data FROM events ORDER BY id",
        ):
            assert table(bulk, query) == table(one, query), query


def test_bad_bulk_input_writes_nothing(tmp_path: Path) -> None:
    archive, (seed, *_) = evaluated(tmp_path / "a", tmp_path / "code")
    with archive:
        before = table(archive, "SELECT COUNT(*) FROM results"), table(archive, "SELECT COUNT(*) FROM events")
        for bad in (
            [ResultImport(seed, "e", "1", "t0", "resolved"), ResultImport(seed, "e", "1", "t1", "solved")],
            [ResultImport(seed, "e", "1", "t0", "resolved", attempt=-1)],
            [ResultImport(seed, "e", "1", "t0", "resolved"), ResultImport("n9999", "e", "1", "t0", "resolved")],
        ):
            with pytest.raises(ArchiveError):
                archive.import_results(bad)
        assert (table(archive, "SELECT COUNT(*) FROM results"), table(archive, "SELECT COUNT(*) FROM events")) == before
