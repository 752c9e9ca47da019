"""Per-task results keyed by code (invariant 5: results keyed by code hash), stages, and scores derived from the
results."""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from opendgm.archive import Archive, ArchiveError, EvaluatorKey, ResultRecord, Score
from tests.support.archive_helpers import write_tree

EVAL, VERSION = "humaneval", "1.0"
SMALL = [f"t{i}" for i in range(4)]
MEDIUM = SMALL + [f"t{i}" for i in range(4, 10)]  # cumulative, DGM style


@pytest.fixture
def twins(archive: Archive, tmp_path: Path) -> tuple[str, str, str]:
    """(root, child, twin): the twin has the child's code under another parent."""
    root = archive.add_agent(write_tree(tmp_path / "a", {"agent.py": "v = 1\n"}), operator="seed")
    child = archive.add_agent(write_tree(tmp_path / "b", {"agent.py": "v = 2\n"}), root.id, operator="si")
    other = archive.add_agent(write_tree(tmp_path / "c", {"agent.py": "v = 3\n"}), root.id, operator="si")
    twin = archive.add_agent(tmp_path / "b", other.id, operator="si")
    assert twin.code_hash == child.code_hash
    return root.id, child.id, twin.id


def _count_rows(archive: Archive) -> int:
    with closing(sqlite3.connect(archive.root / "archive.sqlite")) as conn:
        return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]


def test_duplicate_result_leaves_one_row_and_returns_the_first(archive: Archive, twins) -> None:
    _, child, _ = twins
    first = archive.record_result(
        ResultRecord(child, EvaluatorKey(EVAL, VERSION), "t0", status="resolved", tests_passed=3, tests_failed=0)
    )
    again = archive.record_result(
        ResultRecord(child, EvaluatorKey(EVAL, VERSION), "t0", status="agent_error", detail="a rerun after a crash")
    )
    assert again == first and again.status == "resolved" and again.resolved
    assert _count_rows(archive) == 1
    other_attempt = archive.record_result(
        ResultRecord(child, EvaluatorKey(EVAL, VERSION), "t0", status="unresolved", attempt=1)
    )
    other_version = archive.record_result(ResultRecord(child, EvaluatorKey(EVAL, "2.0"), "t0", status="unresolved"))
    assert len({first.id, other_attempt.id, other_version.id}) == 3
    assert _count_rows(archive) == 3
    assert [e.data["task_id"] for e in archive.events() if e.kind == "result"] == ["t0", "t0", "t0"]


def test_results_are_shared_by_identical_code(archive: Archive, twins) -> None:
    _, child, twin = twins
    recorded = archive.record_result(
        ResultRecord(
            child,
            EvaluatorKey(EVAL, VERSION),
            "t1",
            status="unresolved",
            tests_passed=2,
            tests_failed=1,
            exit_code=1,
            duration_s=12.5,
            log_path="logs/t1.txt",
            trajectory_path="traj/t1.jsonl",
            patch_path="patches/t1.diff",
            cost_usd=0.02,
            tokens=1500,
            detail="1 test failed",
        )
    )
    cached = archive.cached_result(twin, EVAL, VERSION, "t1")
    assert cached == recorded and cached.node_id == child  # produced by the child, shared by the twin
    assert archive.cached_result(twin, EVAL, VERSION, "t1", attempt=1) is None
    assert archive.cached_result(twin, EVAL, "other-version", "t1") is None
    assert archive.record_result(ResultRecord(twin, EvaluatorKey(EVAL, VERSION), "t1", status="resolved")) == recorded
    assert archive.results(twin) == archive.results(child) == [recorded]
    assert (recorded.tests_passed, recorded.tests_failed, recorded.exit_code, recorded.duration_s) == (2, 1, 1, 12.5)
    assert (recorded.log_path, recorded.trajectory_path, recorded.patch_path) == (
        "logs/t1.txt",
        "traj/t1.jsonl",
        "patches/t1.diff",
    )
    assert (recorded.cost_usd, recorded.tokens, recorded.detail, recorded.resolved) == (
        0.02,
        1500,
        "1 test failed",
        False,
    )


def test_scores_are_derived_per_stage_from_results(archive: Archive, twins) -> None:
    _, child, twin = twins
    assert archive.record_stage(child, EVAL, VERSION, "small", SMALL) == Score(EVAL, VERSION, "small", 4, 0, 0)
    statuses = {"t0": "resolved", "t1": "unresolved", "t2": "resolved", "t3": "empty_patch"}
    for task, status in statuses.items():
        archive.record_result(ResultRecord(child, EvaluatorKey(EVAL, VERSION), task, status=status))
    archive.record_result(
        ResultRecord(child, EvaluatorKey("other-eval", VERSION), "t4", status="resolved")
    )  # outside every stage
    small = archive.record_stage(child, EVAL, VERSION, "small", SMALL)  # re-declaring is a no-op
    assert (small.n_tasks, small.n_done, small.n_resolved, small.score, small.complete) == (4, 4, 2, 0.5, True)
    archive.record_stage(child, EVAL, VERSION, "medium", MEDIUM)
    assert archive.missing_tasks(child, EVAL, VERSION, "medium") == [(t, 0) for t in MEDIUM[4:]]
    archive.record_result(ResultRecord(child, EvaluatorKey(EVAL, VERSION), "t7", status="resolved"))
    medium = archive.scores(child)[1]
    assert (medium.stage, medium.n_tasks, medium.n_done, medium.n_resolved) == ("medium", 10, 5, 3)
    assert medium.score == pytest.approx(0.3) and not medium.complete
    assert archive.best_score(child) == pytest.approx(0.3)  # the latest stage
    assert archive.best_score(child, evaluator="nope") is None
    # The twin declares the same stage: its score is there at once, with no task run again.
    assert archive.record_stage(twin, EVAL, VERSION, "small", SMALL) == small
    assert archive.missing_tasks(twin, EVAL, VERSION, "small") == []
    with pytest.raises(ArchiveError, match="different task list"):
        archive.record_stage(child, EVAL, VERSION, "small", SMALL[:3])


def test_repeated_attempts_count_each_attempt(archive: Archive, twins) -> None:
    _, child, _ = twins
    archive.record_stage(child, EVAL, VERSION, "repeat", ["t0", "t1"], attempts=3)
    for attempt, status in enumerate(["resolved", "unresolved", "resolved"]):
        archive.record_result(ResultRecord(child, EvaluatorKey(EVAL, VERSION), "t0", status=status, attempt=attempt))
    archive.record_result(
        ResultRecord(child, EvaluatorKey(EVAL, VERSION), "t1", status="resolved", attempt=5)
    )  # beyond the stage
    (score,) = archive.scores(child)
    assert (score.n_tasks, score.n_done, score.n_resolved) == (6, 3, 2)
    assert archive.missing_tasks(child, EVAL, VERSION, "repeat") == [("t1", 0), ("t1", 1), ("t1", 2)]


def test_summaries_give_selection_inputs_in_one_call(archive: Archive, twins) -> None:
    root, child, twin = twins
    archive.record_stage(root, EVAL, VERSION, "small", SMALL)
    archive.record_result(ResultRecord(root, EvaluatorKey(EVAL, VERSION), "t0", status="resolved"))
    archive.record_stage(child, EVAL, VERSION, "small", SMALL)
    archive.record_stage(child, EVAL, VERSION, "medium", MEDIUM)
    for task in ("t0", "t5", "t6"):
        archive.record_result(ResultRecord(child, EvaluatorKey(EVAL, VERSION), task, status="resolved"))
    archive.record_result(ResultRecord(child, EvaluatorKey(EVAL, VERSION), "t1", status="agent_timeout"))
    by_id = {row.id: row for row in archive.summaries()}
    assert [row.id for row in archive.summaries()] == ["n0001", "n0002", "n0003", "n0004"]
    assert (by_id[root].n_children, by_id[root].stage, by_id[root].score) == (2, "small", 0.25)
    assert (by_id[child].stage, by_id[child].n_done, by_id[child].n_resolved) == ("medium", 4, 3)
    assert (by_id[child].passes, by_id[child].fails) == (3, 1)
    assert by_id[twin].stage is None and by_id[twin].score is None  # no stage declared: no score
    assert (by_id[twin].passes, by_id[twin].fails) == (3, 1)  # but its code's results are there
    assert all(row.stage is None and row.passes == 0 for row in archive.summaries(evaluator="other"))


def test_bad_results_are_refused(archive: Archive, twins) -> None:
    _, child, _ = twins
    with pytest.raises(ArchiveError, match="unknown result status 'passed'"):
        archive.record_result(ResultRecord(child, EvaluatorKey(EVAL, VERSION), "t0", status="passed"))  # type: ignore[arg-type]
    with pytest.raises(ArchiveError, match="attempt numbers start at 0"):
        archive.record_result(ResultRecord(child, EvaluatorKey(EVAL, VERSION), "t0", status="resolved", attempt=-1))
    proposed = archive.propose("agent", child)
    with pytest.raises(ArchiveError, match="has no code yet"):
        archive.record_result(ResultRecord(proposed.id, EvaluatorKey(EVAL, VERSION), "t0", status="resolved"))
    with pytest.raises(ArchiveError, match="distinct task ids"):
        archive.record_stage(child, EVAL, VERSION, "dup", ["t0", "t0"])
    assert _count_rows(archive) == 0


def _derived(archive: Archive, nodes: list[str], evaluator: str | None) -> dict[str, tuple]:
    """What `summaries` must say, computed the slow way: from `scores` and the raw results."""
    expected = {}
    for node in nodes:
        scores = [s for s in archive.scores(node) if evaluator in (None, s.evaluator)]
        last = scores[-1] if scores else Score("", "", None, 0, 0, 0)  # type: ignore[arg-type]
        results = archive.results(node, evaluator)
        passes = sum(r.resolved for r in results)
        expected[node] = (last.stage, last.n_tasks, last.n_done, last.n_resolved, passes, len(results) - passes)
    return expected


def test_selection_tallies_always_equal_the_derivation_from_results(
    archive: Archive, campaign_dir: Path, tmp_path: Path
) -> None:
    """`summaries` reads trigger-kept tallies; whatever the order of stages and results (stages declared
    after the results exist, code shared between nodes, attempts, results outside every stage), they
    equal the derivation — also after the tallies are rebuilt by the migration that introduced them."""
    rng = random.Random(7)
    codes = [write_tree(tmp_path / f"code{i}", {"agent.py": f"v = {i}\n"}) for i in range(5)]
    nodes = [archive.add_agent(codes[0]).id]
    for _ in range(11):
        nodes.append(archive.add_agent(rng.choice(codes), rng.choice(nodes)).id)
    tasks = [f"t{i}" for i in range(8)]
    with archive.transaction():
        for step in range(400):
            node, evaluator = rng.choice(nodes), rng.choice(["e1", "e2"])
            if rng.random() < 0.1:
                chosen = rng.sample(tasks, rng.randint(1, len(tasks)))
                archive.record_stage(node, evaluator, "1", f"stage{step}", chosen, attempts=rng.randint(1, 2))
            else:
                status = rng.choice(["resolved", "unresolved", "agent_error"])
                archive.record_result(
                    ResultRecord(
                        node, EvaluatorKey(evaluator, "1"), rng.choice(tasks), status=status, attempt=rng.randint(0, 2)
                    )
                )

    def tallied(evaluator: str | None) -> dict[str, tuple]:
        return {
            s.id: (s.stage, s.n_tasks, s.n_done, s.n_resolved, s.passes, s.fails)
            for s in archive.summaries(evaluator=evaluator)
        }

    expected = {evaluator: _derived(archive, nodes, evaluator) for evaluator in (None, "e1")}
    assert sum(row[2] for row in expected[None].values()) > 20  # the workload did fill stages
    for evaluator, derived in expected.items():
        assert tallied(evaluator) == derived

    archive.close()
    with closing(sqlite3.connect(campaign_dir / "archive.sqlite", isolation_level=None)) as conn:
        schema = conn.execute("SELECT name, type FROM sqlite_master WHERE type IN ('trigger', 'table')").fetchall()
        for name, kind in schema:
            if name in ("stage_tallies", "code_tallies") or kind == "trigger":
                conn.execute(f"DROP {kind.upper()} {name}")
        conn.execute("PRAGMA user_version = 3")  # as written by the code before the tallies existed
    with Archive.open(campaign_dir) as reopened:
        for evaluator, derived in expected.items():
            assert {s.id: (s.stage, s.n_tasks, s.n_done, s.n_resolved, s.passes, s.fails)
                    for s in reopened.summaries(evaluator=evaluator)} == derived  # fmt: skip


def test_results_and_stages_are_append_only_in_the_database(archive: Archive, twins) -> None:
    _, child, _ = twins
    archive.record_stage(child, EVAL, VERSION, "small", SMALL)
    archive.record_result(ResultRecord(child, EvaluatorKey(EVAL, VERSION), "t0", status="unresolved"))
    archive.close()
    with closing(sqlite3.connect(archive.root / "archive.sqlite")) as conn:
        for statement in (
            "UPDATE results SET status = 'resolved'",
            "DELETE FROM results",
            "DELETE FROM stages",
            "UPDATE task_set_items SET task_id = 'other'",
            f"UPDATE nodes SET code_hash = 'forged' WHERE id = '{child}'",
        ):
            with pytest.raises(sqlite3.IntegrityError, match=r"append-only|code hash is fixed"):
                conn.execute(statement)
