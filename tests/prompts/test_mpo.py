"""MPO: merged rubrics keep each criterion once; the alarm fires on proxy-up, gold-flat only."""

from __future__ import annotations

import pytest

from opendgm.prompts import mpo


def test_criteria_from_items_or_bullets():
    assert mpo.criteria("<item>Correct  answer</item>\n<item>Shows work</item>") == ["Correct answer", "Shows work"]
    assert mpo.criteria("- Correct answer\n\n2) Shows work\n") == ["Correct answer", "Shows work"]


def test_merge_drops_duplicate_criteria_and_keeps_order():
    merged = mpo.merge(
        ["<item>Correct answer.</item><item>Shows work</item>", "- correct  answer\n- Penalise padding", ""]
    )
    assert mpo.criteria(merged) == ["Correct answer.", "Shows work", "Penalise padding"]


@pytest.mark.parametrize(
    ("proxy", "gold", "fired"),
    [
        ([1, 1, 1, 2, 2, 2], [0.5] * 6, True),  # judge up, gold flat: hacking
        ([1, 1, 1, 2, 2, 2], [0.5, 0.5, 0.5, 0.4, 0.4, 0.4], True),  # judge up, gold down
        ([1, 1, 1, 2, 2, 2], [0.5, 0.5, 0.5, 0.6, 0.6, 0.6], False),  # both up: real progress
        ([2, 2, 2, 1, 1, 1], [0.5] * 6, False),  # judge down
        ([1, 2, 3, 4, 5], [0.5] * 5, False),  # too few points for two windows
    ],
)
def test_hacking_alarm(proxy, gold, fired):
    assert mpo.hacking_alarm(proxy, gold).fired is fired


def test_the_alarm_needs_paired_series():
    with pytest.raises(ValueError, match="paired"):
        mpo.hacking_alarm([1, 2], [1])


def test_items_count_only_tagged_criteria():
    assert mpo.items("Here you go:\n<item> Correct\nanswer </item> and some prose") == ["Correct answer"]
    assert mpo.items("The rubric is fine.") == [] and mpo.criteria("The rubric is fine.") == ["The rubric is fine."]


def test_the_judge_sees_rubric_task_reference_and_response_but_never_gold():
    prompts = []

    def judge(messages, temperature):
        prompts.append(messages[0]["content"])
        return "Right answer.\nSCORE: 12"

    sample = mpo.Sample("s", "What is 2 + 2?", "It is 4.", reference="4", gold=0.25)
    judged = mpo.judge(judge, "<item>Correct answer</item>", sample)
    assert (judged.score, judged.verdict) == (10.0, "Right answer.\nSCORE: 12")  # clamped to 0..10
    (prompt,) = prompts
    assert all(part in prompt for part in ("<item>Correct answer</item>", "What is 2 + 2?", "It is 4.", "<reference>"))
    assert "0.25" not in prompt
