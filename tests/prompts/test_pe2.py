"""PE2's pure logic against a scripted model: back-tracking beam, hard negatives from errors only, the
meta-prompt's parts and the two-turn proposal."""

from __future__ import annotations

import random

import pytest

from opendgm.prompts import pe2
from opendgm.prompts.data import Example
from opendgm.prompts.target import Attempt


def attempts(n_wrong: int, n_right: int) -> list[Attempt]:
    wrong = [Attempt(Example(f"w{i}", f"in{i}", f"label{i}"), f"bad{i}", False) for i in range(n_wrong)]
    right = [Attempt(Example(f"r{i}", f"ok{i}", f"good{i}"), f"good{i}", True) for i in range(n_right)]
    return wrong + right


def test_the_beam_backtracks_to_earlier_steps_and_skips_duplicate_texts():
    pool = [
        pe2.Candidate("n1", "seed", 0.6, 0),
        pe2.Candidate("n2", "child a", 0.4, 1),
        pe2.Candidate("n3", "child b", 0.7, 1),
        pe2.Candidate("n4", "grandchild", 0.5, 2),
        pe2.Candidate("n5", "child b", 0.7, 2),  # same text as n3: not a second beam slot
        pe2.Candidate("n6", "tie, newer", 0.6, 2),
    ]
    assert [c.id for c in pe2.select_beam(pool, 3)] == ["n3", "n1", "n6"]
    assert [c.id for c in pe2.select_beam(pool, 1)] == ["n3"]


def test_hard_negatives_come_only_from_errors():
    rng = random.Random(0)
    for _ in range(20):
        batch = pe2.hard_negatives(attempts(3, 10), 2, rng)
        assert len(batch) == 2 and not any(a.correct for a in batch)
    assert len(pe2.hard_negatives(attempts(1, 10), 4, rng)) == 1
    assert pe2.hard_negatives(attempts(0, 10), 2, rng) == []


def test_proposal_turns_carry_template_batch_constraints_and_history():
    batch = attempts(2, 0)
    settings = pe2.Settings(step_size=5, history=True, max_words=30)
    lineage = [pe2.Candidate("n1", "Let's think.", 0.25, 0)]
    first, second = pe2.proposal_turns(pe2.default_meta_prompt(), "Let's think.", batch, "after", settings, lineage)
    assert "Q: <input>\nA: <prompt>" in first  # context specification: the prompt sits after A:
    assert "2 examples" in first and "absolutely correct" in first
    for a in batch:
        assert f"Input: {a.example.input}\nOutput: {a.output}\nLabel: {a.example.target}" in first
    assert "Is an edit to the prompt needed" in first  # the reasoning template
    assert "Reply with the new prompt only" not in first and "Reply with the new prompt only" in second
    assert "Change at most 5 words." in second and "under 30 words" in second
    assert 'dev accuracy 0.25: "Let\'s think."' in second
    assert "$" not in first + second
    _, plain = pe2.proposal_turns(pe2.default_meta_prompt(), "p", batch, "before", pe2.Settings())
    assert "history" not in plain.lower() and "Edit as much as needed." in plain


def test_a_meta_prompt_without_two_steps_is_refused():
    with pytest.raises(ValueError, match="step 2"):
        pe2.proposal_turns("just one step", "p", attempts(1, 0), "before", pe2.Settings())


def test_propose_reasons_greedily_then_rewrites_in_the_same_conversation():
    calls: list[tuple[list[dict[str, str]], float]] = []

    def model(messages: list[dict[str, str]], temperature: float) -> str:
        calls.append((list(messages), temperature))
        return "The prompt never says to reverse." if len(calls) == 1 else "Sure!\n<prompt>Reverse the word.</prompt>"

    proposal = pe2.propose(model, pe2.default_meta_prompt(), "Answer.", attempts(2, 0), "before", pe2.Settings())
    assert proposal == pe2.Proposal("Reverse the word.", "The prompt never says to reverse.")
    assert [t for _, t in calls] == [0.0, 0.7]
    second = calls[1][0]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == "The prompt never says to reverse."


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("<prompt>Reverse it.</prompt>", "Reverse it."),
        ('<PROMPT>"Reverse it."', "Reverse it."),
        ("Reverse it.", "Reverse it."),
        ("<prompt>" + "word " * 80 + "</prompt>", " ".join(["word"] * 50)),
    ],
)
def test_parse_prompt(reply, expected):
    assert pe2.parse_prompt(reply, 50) == expected
