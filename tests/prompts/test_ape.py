"""APE's pure logic: demos drawn from train only, one differently seeded sample per candidate; induction
and paraphrase fill their meta-prompts, sample at a raised temperature and reject empty answers."""

from __future__ import annotations

import pytest

from opendgm.prompts import ape
from opendgm.prompts.config import APEOptions, PromptCampaignConfig
from opendgm.prompts.generators import generate

DATA = generate("reverse", (6, 4, 4))


class Model:
    """Answers every call with `reply`, recording the messages and temperature."""

    def __init__(self, reply: str) -> None:
        self.reply, self.calls = reply, []

    def __call__(self, messages: list[dict[str, str]], temperature: float) -> str:
        self.calls.append((messages, temperature))
        return self.reply


def test_demo_sets_come_from_train_and_differ_per_candidate_but_not_per_run():
    settings = ape.Settings(candidates=5, demos=3)
    sets = ape.demo_sets(DATA.train, settings, seed=0)
    train_ids = {e.id for e in DATA.train}
    assert len(sets) == 5 and all(len(s) == 3 and {e.id for e in s} <= train_ids for s in sets)
    assert len({tuple(e.id for e in s) for s in sets}) > 1
    assert sets == ape.demo_sets(DATA.train, settings, seed=0)
    assert sets != ape.demo_sets(DATA.train, settings, seed=1)
    assert all(len(s) == 6 for s in ape.demo_sets(DATA.train, ape.Settings(demos=50), seed=0))


def test_induce_shows_the_demos_and_samples_one_instruction():
    model = Model('Sure.\n<prompt>"Reverse the word."</prompt>')
    demos = DATA.train[:2]
    assert ape.induce(model, ape.default_meta_prompt(), demos, max_words=20) == "Reverse the word."
    ((messages, temperature),) = model.calls
    assert 0.7 <= temperature <= 1.0
    (message,) = messages
    for e in demos:
        assert f"Input: {e.input}\nOutput: {e.target}" in message["content"]
    assert "2 of those" in message["content"] and "at most 20 words" in message["content"]
    assert "$" not in message["content"]


def test_paraphrase_shows_the_instruction_and_caps_the_answer():
    model = Model("<prompt>" + "word " * 30 + "</prompt>")
    assert ape.paraphrase(model, ape.default_paraphrase_prompt(), "Reverse it.", max_words=10) == " ".join(
        ["word"] * 10
    )
    content = model.calls[0][0][0]["content"]
    assert '"""\nReverse it.\n"""' in content and "same thing" in content and "$" not in content


@pytest.mark.parametrize("junk", ["", "   ", '""', "<prompt> </prompt>", "<prompt>"])
def test_an_empty_answer_is_no_candidate(junk):
    assert ape.induce(Model(junk), ape.default_meta_prompt(), DATA.train[:1], 50) == ""
    assert ape.paraphrase(Model(junk), ape.default_paraphrase_prompt(), "Reverse it.", 50) == ""


def test_ape_options_become_settings_and_refuse_unknown_keys():
    assert APEOptions(candidates=2, keep=1).settings() == ape.Settings(candidates=2, keep=1)
    with pytest.raises(ValueError, match="extra"):
        APEOptions.model_validate({"prompts": 3})
    roles = {"target": {"model": "openai/t"}, "meta": {"model": "openai/m"}}
    base = {"name": "x", "llm": {"roles": roles}, "dataset": {"builtin": "reverse"}}
    assert PromptCampaignConfig.model_validate(base | {"operator": "ape"}).ape.candidates == 8
    with pytest.raises(ValueError, match="operator"):
        PromptCampaignConfig.model_validate(base | {"operator": "evoprompt"})
