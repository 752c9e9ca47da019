"""Meta-prompt fitness follows the children's improvement over their parents, like for like."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendgm.archive import Archive, EvaluatorKey, ResultRecord, credit
from tests.support.archive_helpers import write_tree

TASKS = ["t1", "t2", "t3", "t4"]


def agent(archive: Archive, tmp_path: Path, name: str, parent: str | None = None) -> str:
    code = write_tree(tmp_path / name, {"agent.py": f"name = {name!r}\n"})
    return archive.add_agent(code, parent, operator="seed" if parent is None else "self_improve").id


def evaluate(archive: Archive, node: str, resolved: int, version: str = "1") -> None:
    archive.set_status(node, "evaluating")
    archive.record_stage(node, "humaneval", version, "small", TASKS)
    for index, task in enumerate(TASKS):
        archive.record_result(
            ResultRecord(
                node, EvaluatorKey("humaneval", version), task, status="resolved" if index < resolved else "unresolved"
            )
        )
    archive.set_status(node, "evaluated")


@pytest.fixture
def population(archive: Archive, tmp_path: Path) -> tuple[Archive, str, str, dict[str, str]]:
    """Root 2/4. Meta-prompt A made c1 (3/4) and c2 (rejected); B made c3 (4/4), c4 (pending), c5 (failed)."""
    root = agent(archive, tmp_path, "root")
    evaluate(archive, root, 2)
    a = archive.add_node("meta_prompt", "A $agent_code", operator="seed", meta={"role": "diagnosis"}).id
    b = archive.add_node("meta_prompt", "B $agent_code", operator="seed", meta={"role": "diagnosis"}).id
    kids = {name: agent(archive, tmp_path, name, root) for name in ("c1", "c2", "c3", "c5")}
    kids["c4"] = archive.propose("agent", root, operator="self_improve").id
    evaluate(archive, kids["c1"], 3)
    archive.set_status(kids["c2"], "rejected", "the child does not compile")
    evaluate(archive, kids["c3"], 4)
    archive.set_status(kids["c5"], "failed", "model error")
    for name, meta_prompt in (("c1", a), ("c2", a), ("c3", b), ("c4", b), ("c5", b)):
        archive.add_edge(kids[name], meta_prompt, "produced_by")
    return archive, a, b, kids


def test_fitness_is_the_mean_gain_of_judged_children(population) -> None:
    archive, a, b, kids = population
    records = credit.fitness(archive)
    assert set(records) == {a, b}
    gains_a = {c.child: c.gain for c in records[a].credits}
    assert gains_a == {kids["c1"]: pytest.approx(0.25), kids["c2"]: pytest.approx(-0.5)}  # rejected counts as 0
    assert records[a].mean_gain == pytest.approx(-0.125) and records[a].improved == 1 and records[a].uses == 2
    gains_b = {c.child: c.gain for c in records[b].credits}
    assert gains_b == {kids["c3"]: pytest.approx(0.5), kids["c4"]: None, kids["c5"]: None}
    assert records[b].mean_gain == pytest.approx(0.5) and records[b].uses == 3
    assert "fitness +0.500" in records[b].summary() and "1 judged" in records[b].summary()
    assert [credit.fitness_of(archive, node) for node in (a, b)] == [records[a], records[b]]
    assert credit.fitness_of(archive, kids["c1"]) is None  # no child names it


def test_gain_uses_the_deepest_stage_both_were_measured_on(archive: Archive, tmp_path: Path) -> None:
    root = agent(archive, tmp_path, "root")
    evaluate(archive, root, 2)
    archive.record_stage(root, "humaneval", "1", "medium", [*TASKS, "t5", "t6"])
    for task in ("t5", "t6"):
        archive.record_result(ResultRecord(root, EvaluatorKey("humaneval", "1"), task, status="unresolved"))
    shallow, deep = agent(archive, tmp_path, "shallow", root), agent(archive, tmp_path, "deep", root)
    evaluate(archive, shallow, 3)  # stopped after the first stage: compared on it (3/4 vs 2/4)
    evaluate(archive, deep, 4)
    archive.set_status(deep, "evaluating")
    archive.record_stage(deep, "humaneval", "1", "medium", [*TASKS, "t5", "t6"])
    archive.record_result(ResultRecord(deep, EvaluatorKey("humaneval", "1"), "t5", status="resolved"))
    archive.record_result(ResultRecord(deep, EvaluatorKey("humaneval", "1"), "t6", status="unresolved"))
    archive.set_status(deep, "evaluated")
    other = agent(archive, tmp_path, "other", root)
    evaluate(archive, other, 4, version="2")  # another evaluator version: nothing to compare with
    meta_prompt = archive.add_node("meta_prompt", "M", operator="seed").id
    for child in (shallow, deep, other):
        archive.add_edge(child, meta_prompt, "produced_by")
    gains = {c.child: c.gain for c in credit.fitness(archive)[meta_prompt].credits}
    assert gains[shallow] == pytest.approx(0.25)
    assert gains[deep] == pytest.approx(5 / 6 - 2 / 6)  # medium: 5/6 against 2/6
    assert gains[other] is None


def test_prompt_children_are_credited_on_dev_never_on_test(archive: Archive) -> None:
    parent = archive.add_node("prompt", "Answer.", operator="seed").id
    child = archive.add_node("prompt", "Answer carefully.", parent, operator="pe2").id
    meta_prompt = archive.add_node("meta_prompt", "PE2", operator="seed").id
    archive.add_edge(child, meta_prompt, "produced_by")
    for node, dev, test in ((parent, 1, 4), (child, 3, 0)):  # better on dev, worse on test
        archive.set_status(node, "evaluating")
        for stage, resolved in (("dev", dev), ("test", test)):
            archive.record_stage(node, "prompt:x", "1", stage, [f"{stage}{i}" for i in range(4)])
            for i in range(4):
                archive.record_result(
                    ResultRecord(
                        node,
                        EvaluatorKey("prompt:x", "1"),
                        f"{stage}{i}",
                        status="resolved" if i < resolved else "unresolved",
                    )
                )
        archive.set_status(node, "evaluated")
    assert credit.fitness(archive)[meta_prompt].mean_gain == pytest.approx(0.5)
