"""Meta-prompt evolution's logic: UCB1 over fitness, and what a hyper-mutated meta-prompt must keep."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from opendgm.archive import Archive, EvaluatorKey, ResultRecord, credit
from opendgm.archive.credit import Credit, Fitness
from opendgm.prompts import meta_prompts, pe2


def record(node: str, *gains: float | None) -> Fitness:
    return Fitness(node, tuple(Credit(f"c{i}", "p", gain) for i, gain in enumerate(gains)))


def test_ucb_tries_every_meta_prompt_before_exploiting() -> None:
    rng = random.Random(0)
    assert meta_prompts.ucb_choice(["a", "b"], {"a": 3, "b": 0}, {"a": 0.9}, 1.0, rng) == "b"
    assert meta_prompts.ucb_choice(["a", "b"], {"a": 3, "b": 3}, {"a": 0.1, "b": 0.3}, 0.0, rng) == "b"
    # A rarely used meta-prompt gets a bonus large enough to be tried again.
    assert meta_prompts.ucb_choice(["a", "b"], {"a": 40, "b": 1}, {"a": 0.2, "b": 0.0}, 1.0, rng) == "b"
    assert meta_prompts.ucb_choice(["a", "b"], {"a": 40, "b": 1}, {"a": 0.2, "b": 0.0}, 0.0, rng) == "a"


def test_the_bandit_follows_the_childrens_improvement() -> None:
    """B's children improved on their parents, A's got worse: with no exploration B is chosen, and the
    choices of one round count as uses at once, so untried members are spread over."""
    records = {"A": record("A", -0.25, 0.0), "B": record("B", 0.5, 0.25, None)}
    chooser = meta_prompts.Chooser({"diagnosis": ["A", "B"]}, records, 0.0, random.Random(0))
    assert [chooser.choose("diagnosis") for _ in range(3)] == ["B", "B", "B"]
    fresh = meta_prompts.Chooser({"diagnosis": ["A", "B", "C", "D"]}, records, 0.5, random.Random(0))
    assert [fresh.choose("diagnosis") for _ in range(2)] == ["C", "D"]


def test_the_bandit_reads_its_credit_from_the_archive(tmp_path: Path) -> None:
    with Archive.create(tmp_path / "c", "bandit") as archive:
        meta_prompts.ensure_seeds(archive, meta_prompts.AGENT_ROLES)
        meta_prompts.ensure_seeds(archive, meta_prompts.AGENT_ROLES)  # idempotent
        members = {role: ids for role, ids in meta_prompts.usable(archive).items() if ids}
        assert {role: len(ids) for role, ids in members.items()} == {"diagnosis": 1, "self_improve": 1, "pe2": 1}
        (original,) = members["diagnosis"]
        better = archive.add_node("meta_prompt", "v2 $agent_code", original, operator="hyper_mutation",
                                  meta={"role": "diagnosis"})  # fmt: skip
        code = tmp_path / "agent"
        code.mkdir()
        (code / "agent.py").write_text("x = 1\n")
        root = archive.add_agent(code, operator="seed").id
        for node, resolved in [(root, 1)]:
            archive.set_status(node, "evaluating")
            archive.record_stage(node, "he", "1", "s", ["t1", "t2"])
            archive.record_result(
                ResultRecord(node, EvaluatorKey("he", "1"), "t1", status="resolved" if resolved else "unresolved")
            )
            archive.record_result(ResultRecord(node, EvaluatorKey("he", "1"), "t2", status="unresolved"))
            archive.set_status(node, "evaluated")
        for meta_prompt, status in ((original, "unresolved"), (better.id, "resolved")):
            (code / "agent.py").write_text(f"x = {meta_prompt!r}\n")
            child = archive.add_agent(code, root, operator="self_improve").id
            archive.add_edge(child, meta_prompt, "produced_by")
            archive.set_status(child, "evaluating")
            archive.record_stage(child, "he", "1", "s", ["t1", "t2"])
            archive.record_result(ResultRecord(child, EvaluatorKey("he", "1"), "t1", status="resolved"))
            archive.record_result(ResultRecord(child, EvaluatorKey("he", "1"), "t2", status=status))
            archive.set_status(child, "evaluated")
        records = credit.fitness(archive)
        assert records[original].mean_gain == 0.0 and records[better.id].mean_gain == 0.5
        chooser = meta_prompts.Chooser(meta_prompts.usable(archive), records, 0.0, random.Random(0))
        assert chooser.choose("diagnosis") == better.id


@pytest.mark.parametrize(
    ("role", "rewrite", "problem"),
    [
        ("diagnosis", "Study $agent_code and $task_statement.", "dropped placeholders"),
        ("pe2", meta_prompts.ROLES["pe2"].seed_text().replace(pe2.STEP_SEPARATOR, "Then:"), "lost required text"),
        ("self_improve", "", "no text"),
    ],
)
def test_a_rewrite_that_loses_what_the_operator_needs_is_refused(role: str, rewrite: str, problem: str) -> None:
    original = meta_prompts.ROLES[role].seed_text()
    assert problem in str(meta_prompts.rewrite_problem(role, original, rewrite))
    assert "unchanged" in str(meta_prompts.rewrite_problem(role, original, original))
    assert meta_prompts.rewrite_problem(role, original, original + "\nBe concrete.") is None


def test_the_hyper_mutation_request_names_its_purpose_record_and_placeholders() -> None:
    text = meta_prompts.ROLES["pe2"].seed_text()
    request = meta_prompts.hyper_mutation_prompt("pe2", text, record("m", 0.5))
    assert "analyse examples a prompt failed on" in request and "fitness +0.500" in request
    for kept in ("$batch_size", "$full_template", "$prompt", "$examples", pe2.STEP_SEPARATOR):
        assert kept in request
    assert text in request
    answer = f"Sure!\n<new-meta-prompt>{text}\nBe concrete.</new-meta-prompt>\nHope it helps."
    assert meta_prompts.parse_rewrite(answer) == f"{text}\nBe concrete."
    assert "times as long" in str(meta_prompts.rewrite_problem("pe2", text, text * 5))
