"""Node life cycle, events, typed edges, meta, node lookup; the graph view and clade statistics."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendgm.archive import Archive, ArchiveError, EvaluatorKey, ResultRecord
from opendgm.archive import graph as graphs
from tests.support.archive_helpers import write_tree


@pytest.fixture
def agent(archive: Archive, tmp_path: Path) -> str:
    return archive.add_agent(write_tree(tmp_path / "code", {"a.py": "1\n"}), operator="seed").id


def test_status_transitions_are_recorded_as_events(archive: Archive, agent: str) -> None:
    start = archive.events()[-1].id
    for status in ("validating", "evaluating", "evaluated", "evaluating", "evaluated"):
        assert archive.set_status(agent, status).status == status
    archive.set_status(agent, "evaluated")  # repeating the current status: no-op, no event
    node = archive.set_status(agent, "rejected", "below the archive's admission threshold")
    assert (node.status, node.status_reason) == ("rejected", "below the archive's admission threshold")
    moves = [(e.data["from"], e.data["to"]) for e in archive.events(since_id=start) if e.kind == "status"]
    assert moves == [
        ("built", "validating"),
        ("validating", "evaluating"),
        ("evaluating", "evaluated"),
        ("evaluated", "evaluating"),
        ("evaluating", "evaluated"),
        ("evaluated", "rejected"),
    ]
    assert archive.events(since_id=start)[-1].data["reason"] == "below the archive's admission threshold"
    with pytest.raises(ArchiveError, match="cannot go from 'rejected' to 'evaluating'"):
        archive.set_status(agent, "evaluating")
    with pytest.raises(ArchiveError, match="unknown status 'done'"):
        archive.set_status(agent, "done")  # type: ignore[arg-type]


def test_a_node_without_content_cannot_be_built(archive: Archive, agent: str) -> None:
    proposed = archive.propose("agent", agent, operator="self_improve")
    archive.set_status(proposed.id, "modifying")
    with pytest.raises(ArchiveError, match="has no content yet"):
        archive.set_status(proposed.id, "built")
    assert archive.set_status(proposed.id, "failed", "agent crashed: exit 137").status == "failed"
    assert [n.id for n in archive.nodes(status="failed")] == [proposed.id]
    assert [n.id for n in archive.nodes(kind="agent", status="built")] == [agent]


def test_events_poll_from_the_last_seen_id(archive: Archive, agent: str) -> None:
    seen = archive.events()
    assert [e.kind for e in seen] == ["node_added"] and seen[0].node_id == agent
    first = archive.log_event("generation", data={"n": 1})
    second = archive.log_event("note", agent, {"text": "parent picked"})
    assert second > first > seen[-1].id
    fresh = archive.events(since_id=seen[-1].id)
    assert [(e.kind, e.node_id, e.data) for e in fresh] == [
        ("generation", None, {"n": 1}),
        ("note", agent, {"text": "parent picked"}),
    ]
    assert archive.events(since_id=second) == []
    assert [e.id for e in archive.events(node_id=agent, limit=1)] == [seen[0].id]


def test_edges_and_meta(archive: Archive, agent: str, tmp_path: Path) -> None:
    meta_prompt = archive.add_node("meta_prompt", "Diagnose the failure, then propose one change.")
    rubric = archive.add_node("rubric", '{"criteria": ["correct"]}')
    child = archive.add_agent(tmp_path / "code", agent, operator="self_improve")
    edge = archive.add_edge(child.id, meta_prompt.id, "produced_by")
    assert archive.add_edge(child.id, meta_prompt.id, "produced_by") == edge  # idempotent
    archive.add_edge(child.id, rubric.id, "scored_under")
    assert {(e.kind, e.dst) for e in archive.edges(child.id)} == {
        ("produced_by", meta_prompt.id),
        ("scored_under", rubric.id),
    }
    assert [e.src for e in archive.edges(rubric.id)] == [child.id]
    with pytest.raises(ArchiveError, match="other than 'parent'"):
        archive.add_edge(child.id, agent, "parent")
    with pytest.raises(ArchiveError, match="no node 'n0099'"):
        archive.add_edge(child.id, "n0099", "produced_by")
    archive.update_meta(child.id, {"problem_statement": "Handle long inputs."})
    updated = archive.update_meta(child.id, {"entry": "task-3"})
    assert updated.meta == {"problem_statement": "Handle long inputs.", "entry": "task-3"}
    with pytest.raises(ArchiveError, match="not JSON-serialisable"):
        archive.update_meta(child.id, {"bad": object()})


def test_node_lookup_by_id_or_number(archive: Archive, agent: str, tmp_path: Path) -> None:
    for _ in range(11):
        archive.add_agent(tmp_path / "code", agent)
    assert (
        archive.resolve("n0003") == archive.resolve("3") == archive.resolve("n3") == archive.resolve("003") == "n0003"
    )
    assert archive.resolve("12") == "n0012"
    for unknown in ("13", "n0", "zz", ""):
        with pytest.raises(ArchiveError, match="no node"):
            archive.resolve(unknown)


def test_depth_clade_counts_and_children_on_a_hand_built_tree(archive: Archive, tmp_path: Path) -> None:
    r"""      a            passes/fails of own results:  a 1/1, b 0/2, c 2/0, d 1/0, e 0/1
             / \
            b   c          clades: b = b+d+e = 1/3, c = 2/0, a = everything = 4/4
           / \
          d   e
    """
    names = {}
    parents = {"a": None, "b": "a", "c": "a", "d": "b", "e": "b"}
    for name, parent in parents.items():
        code = write_tree(tmp_path / name, {"agent.py": f"name = {name!r}\n"})
        names[name] = archive.add_agent(code, names.get(parent)).id
    own = {"a": (1, 1), "b": (0, 2), "c": (2, 0), "d": (1, 0), "e": (0, 1)}
    for name, (passes, fails) in own.items():
        statuses = ["resolved"] * passes + ["unresolved"] * fails
        for index, status in enumerate(statuses):
            archive.record_result(ResultRecord(names[name], EvaluatorKey("eval", "1"), f"task{index}", status=status))
    archive.record_result(
        ResultRecord(names["a"], EvaluatorKey("other", "1"), "x", status="resolved")
    )  # filtered out below
    meta = archive.add_node("meta_prompt", "improve yourself")
    archive.add_edge(names["d"], meta.id, "produced_by")

    graph = archive.graph(evaluator="eval")
    clades = graphs.clade_counts(graph)
    assert {name: clades[node] for name, node in names.items()} == {
        "a": (4, 4),
        "b": (1, 3),
        "c": (2, 0),
        "d": (1, 0),
        "e": (0, 1),
    }
    assert {name: graph.nodes[node]["depth"] for name, node in names.items()} == {
        "a": 0,
        "b": 1,
        "c": 1,
        "d": 2,
        "e": 2,
    }
    assert archive.depth(names["e"]) == 2 and [n.id for n in archive.lineage(names["e"])] == [
        names["a"],
        names["b"],
        names["e"],
    ]
    assert graphs.descendants(graph, names["b"]) == {names["d"], names["e"]}
    assert graphs.children_counts(graph)[names["a"]] == 2 and graphs.children_counts(graph)[meta.id] == 0
    assert graphs.roots(graph) == [names["a"], meta.id]  # the typed edge is not parenthood
    assert graph.edges[names["d"], meta.id]["kind"] == "produced_by"
    assert graph.edges[names["a"], names["b"]]["kind"] == "parent"
    assert graph.nodes[names["a"]]["kind"] == "agent" and graph.nodes[meta.id]["kind"] == "meta_prompt"
    assert graphs.clade_counts(archive.graph())[names["a"]] == (5, 4)  # all evaluators


def test_event_queries_read_only_what_a_status_view_needs(archive: Archive) -> None:
    assert (archive.last_event_id(), archive.event_count("generation"), archive.latest_events(3)) == (0, 0, [])
    for index in range(4):
        archive.log_event("generation", data={"generation": index})
        archive.log_event("result", data={"task": index})
    archive.log_event("campaign_stopped", data={"reason": "done"})
    assert archive.event_count("generation") == 4 and archive.event_count("result") == 4
    recent = archive.latest_events(3, skip={"result"})
    assert [(e.kind, e.data.get("generation")) for e in recent] == [
        ("generation", 2),
        ("generation", 3),
        ("campaign_stopped", None),
    ]
    (stop,) = archive.latest_events(1, kind="campaign_stopped")
    assert stop.id == archive.last_event_id() == archive.events()[-1].id
