"""OPRO's pure logic: the history is the top-k by train score, each text once, ascending, as integers
0-100; exemplars show where the instruction goes; proposals sample at 1.0; empty answers are rejected."""

from __future__ import annotations

import pytest

from opendgm.prompts import opro, pe2
from opendgm.prompts.config import OPROOptions
from opendgm.prompts.data import Example

EXAMPLES = [Example("t1", "apple", "elppa"), Example("t2", "lemon", "nomel")]


def pool(*prompts: tuple[str, float]) -> list[opro.Scored]:
    """Prompts n0, n1, ... with these texts and train scores; their dev scores differ, and must not show."""
    return [opro.Scored(pe2.Candidate(f"n{i}", text, 1 - train, 1), train) for i, (text, train) in enumerate(prompts)]


def scored(*scores: float) -> list[opro.Scored]:
    return pool(*((f"prompt {i}", s) for i, s in enumerate(scores)))


def test_the_history_is_the_top_k_ascending_with_the_best_last():
    history = opro.top_k(scored(0.5, 0.9, 0.1, 0.7, 0.3), 3)
    assert [(c.prompt.id, c.train) for c in history] == [("n0", 0.5), ("n3", 0.7), ("n1", 0.9)]
    assert len(opro.top_k(scored(*[i / 30 for i in range(30)]), 20)) == 20


def test_the_history_shows_each_text_once_keeping_the_older_on_a_tie():
    same = pool(("Reverse the word.", 0.5), ("reverse  the word", 0.5), ("Spell it backwards.", 0.25))
    assert [c.prompt.id for c in opro.top_k(same, 20)] == ["n2", "n0"]  # n1 is n0 spelt differently


def test_keys_ignore_case_spacing_and_end_punctuation_only():
    assert opro.key("Reverse the word.") == opro.key(" reverse   THE word ")
    assert opro.key("Reverse the word.") != opro.key("Reverse the words.")


def test_train_scores_are_shown_as_integers_from_0_to_100():
    block = opro.history_block(opro.top_k(scored(1 / 3, 1.0, 0.0), 20))
    assert block == "text:\nprompt 2\nscore:\n0\n\ntext:\nprompt 0\nscore:\n33\n\ntext:\nprompt 1\nscore:\n100"


@pytest.mark.parametrize(
    ("placement", "rendered"), [("before", "<INS>\n\nQ: apple\nA:"), ("after", "Q: apple\nA: <INS>")]
)
def test_exemplars_show_where_the_instruction_goes(placement, rendered):
    block = opro.exemplar_block(EXAMPLES, placement)
    assert block.startswith(f"input:\n{rendered}\noutput:\nelppa\n\ninput:")


def test_propose_fills_the_meta_prompt_and_samples_at_one():
    calls = []

    def model(messages: list[dict[str, str]], temperature: float) -> str:
        calls.append((messages, temperature))
        return '<prompt>"Reverse the letters."</prompt>'

    history = opro.top_k(scored(0.25, 0.75), 20)
    text = opro.propose(model, opro.default_meta_prompt(), history, EXAMPLES, "before", 30)
    assert text == "Reverse the letters."
    ((messages, temperature),) = calls
    assert temperature == 1.0
    content = messages[0]["content"]
    assert opro.history_block(history) in content and opro.exemplar_block(EXAMPLES, "before") in content
    assert "lowest score to the highest" in content and "at most 30 words" in content and "$" not in content


@pytest.mark.parametrize("junk", ["", "\n", '""', '<prompt>""</prompt>'])
def test_an_empty_proposal_is_no_candidate(junk):
    assert opro.propose(lambda _m, _t: junk, opro.default_meta_prompt(), scored(0.5), EXAMPLES, "before", 50) == ""


def test_opro_options_become_settings():
    assert OPROOptions(per_step=2, top_k=5).settings() == opro.Settings(per_step=2, top_k=5)
    with pytest.raises(ValueError, match="extra"):
        OPROOptions.model_validate({"temperature": 0.5})
