"""`summaries` keeps its rows between calls and re-reads only the nodes whose revision moved: whatever the
writer does (new nodes, code attached, status changes, stages, results shared by identical code, a write that
rolls back), the kept rows equal a fresh query over every node, for the writer and for a reader handle."""

from __future__ import annotations

import random
import sqlite3
import tarfile
from contextlib import closing
from pathlib import Path

import pytest

from opendgm.archive import Archive, EvaluatorKey, NodeSummary, ResultRecord
from opendgm.archive import summaries as summary_rows
from opendgm.archive.models import TRANSITIONS
from tests.support.archive_helpers import write_tree

FIXTURE = Path(__file__).parents[1] / "fixtures" / "archives" / "v4-campaign.tar.gz"
FILTERS = ((None, None), ("e1", "1"), ("e2", None))


def _fresh(archive: Archive, filters: tuple[str | None, str | None]) -> list:
    with archive.snapshot(), closing(sqlite3.connect(archive.root / "archive.sqlite")) as conn:
        return summary_rows.query(conn, filters)


def _check(archive: Archive) -> None:
    for evaluator, version in FILTERS:
        fresh = _fresh(archive, (evaluator, version))
        agents = [row for row in fresh if row.kind == "agent"]
        kept, kept_agents = archive.summaries(None, evaluator, version), archive.summaries("agent", evaluator, version)
        assert kept == fresh and kept_agents == agents
        # HGM's clade sums, updated by adding each change to the ancestors, equal the sums over the fresh rows
        assert kept.clade_sums() == summary_rows.clade_sums(fresh)
        assert kept_agents.clade_sums() == summary_rows.clade_sums(agents)


def test_kept_summaries_always_equal_a_fresh_query(archive: Archive, campaign_dir: Path, tmp_path: Path) -> None:
    rng = random.Random(3)
    codes = [write_tree(tmp_path / f"code{i}", {"agent.py": f"v = {i}\n"}) for i in range(4)]
    nodes = [archive.add_agent(codes[0]).id]
    tasks = [f"t{i}" for i in range(6)]
    with Archive.open(campaign_dir, readonly=True) as reader:
        _check(archive), _check(reader)  # both caches warm from here on
        for step in range(160):
            node, evaluator = rng.choice(nodes), rng.choice(["e1", "e2"])
            action = rng.random()
            if action < 0.15:
                nodes.append(archive.add_agent(rng.choice(codes), rng.choice(nodes), operator="op").id)
            elif action < 0.2:
                proposed = archive.propose("agent", rng.choice(nodes)).id
                _check(archive)
                archive.attach_code(proposed, rng.choice(codes))
                nodes.append(proposed)
            elif action < 0.3:
                allowed = sorted(TRANSITIONS[archive.node(node).status] - {"rejected", "failed"}) or ["rejected"]
                archive.set_status(node, rng.choice(allowed), reason=f"s{step}")
            elif action < 0.4:
                chosen = rng.sample(tasks, rng.randint(1, len(tasks)))
                archive.record_stage(node, evaluator, "1", f"stage{step}", chosen)
            elif action < 0.45:
                with pytest.raises(RuntimeError), archive.transaction():  # seen inside, then rolled back
                    archive.record_result(
                        ResultRecord(node, EvaluatorKey(evaluator, "1"), "t0", status="resolved", attempt=9)
                    )
                    inside = {row.id: row.passes for row in archive.summaries(None, *FILTERS[0])}
                    assert inside[node] == 1 + sum(r.resolved for r in archive.results(node) if r.attempt != 9)
                    raise RuntimeError("roll back")
            else:
                status = rng.choice(["resolved", "unresolved"])
                archive.record_result(
                    ResultRecord(
                        node, EvaluatorKey(evaluator, "1"), rng.choice(tasks), status=status, attempt=rng.randint(0, 1)
                    )
                )
            _check(archive)
            if step % 7 == 0:
                _check(reader)
        _check(reader)
    assert sum(row.n_done for row in archive.summaries()) > 10  # the workload did fill stages
    assert archive.scores_by_node() == {node: archive.scores(node) for node in nodes if archive.scores(node)}


def test_columns_derived_per_row_follow_the_changes_and_a_stale_list_recomputes(archive: Archive, tmp_path: Path):
    code = write_tree(tmp_path / "code", {"agent.py": "v = 0\n"})
    seed = archive.add_agent(code).id
    archive.record_stage(seed, "e1", "1", "small", ["t0", "t1"])
    children = archive.summaries(evaluator="e1")
    assert children.column(lambda row: row.n_children, "q").tolist() == [0]
    computed: list[str] = []

    def count(row: NodeSummary) -> float:  # one function object, kept by the cache
        computed.append(row.id)
        return row.n_children + row.passes / 10

    assert archive.summaries(evaluator="e1").column(count, "d").tolist() == [0.0]
    archive.record_result(ResultRecord(seed, EvaluatorKey("e1", "1"), "t0", status="resolved"))
    child = archive.add_agent(code, seed).id
    stale, fresh = children, archive.summaries(evaluator="e1")
    computed.clear()
    assert fresh.column(count, "d").tolist() == [1.1, 0.1]  # the twin shares the seed's code, so its result
    assert computed == [] and fresh.column(count, "d").tolist() == [1.1, 0.1]  # kept, updated as rows changed
    assert stale.column(count, "d").tolist() == [0.0]  # computed from its own rows, not the cache's newer ones
    assert computed == [seed]
    archive.record_result(ResultRecord(child, EvaluatorKey("e1", "1"), "t1", status="unresolved"))
    computed.clear()
    assert archive.summaries(evaluator="e1").column(count, "d").tolist() == [1.1, 0.1]
    assert sorted(computed) == sorted([seed, child])  # the changed rows alone (both: the same code), not a scan


def test_an_archive_from_before_the_revisions_migrates_and_summarises_the_same(tmp_path: Path) -> None:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    campaign = tmp_path / "campaign"
    with Archive.open(campaign) as archive:
        _check(archive)
        assert len(archive.summaries(None)) > 1
        node = archive.summaries()[-1].id
        archive.set_status(node, "rejected", reason="after the migration")
        _check(archive)


def test_handles_opened_one_after_another_share_kept_summaries(archive: Archive, campaign_dir: Path, tmp_path: Path):
    code = write_tree(tmp_path / "code", {"agent.py": "v = 0\n"})
    seed = archive.add_agent(code).id
    shared = summary_rows.SummaryCache()
    with Archive.open(campaign_dir, readonly=True) as first:
        first.keep_summaries_in(shared)
        with first.snapshot():
            assert [row.id for row in first.summaries()] == [seed]  # the snapshot starts at this read
            child = archive.add_agent(code, seed).id
            with Archive.open(campaign_dir, readonly=True) as second:
                second.keep_summaries_in(shared)
                assert [row.id for row in second.summaries()] == [seed, child]
            assert [row.id for row in first.summaries()] == [seed]  # its own snapshot, not the newer kept rows
        _check(first)


def test_summaries_take_an_evaluator_key_or_the_older_name_and_version(archive: Archive, tmp_path: Path) -> None:
    code = write_tree(tmp_path / "code", {"agent.py": "v = 0\n"})
    seed = archive.add_agent(code).id
    for version in ("1", "2"):
        archive.record_stage(seed, "e1", version, "small", ["t0"])
        archive.record_result(ResultRecord(seed, EvaluatorKey("e1", version), "t0", status="resolved"))
    by_key = archive.summaries(evaluator=EvaluatorKey("e1", "2"))
    assert by_key == archive.summaries(evaluator="e1", evaluator_version="2") == archive.summaries("agent", "e1", "2")
    assert (by_key[0].passes, archive.summaries(evaluator="e1")[0].passes) == (1, 2)  # a name alone: any version
    with pytest.raises(TypeError, match="not both"):
        archive.summaries(evaluator=EvaluatorKey("e1", "2"), evaluator_version="1")
