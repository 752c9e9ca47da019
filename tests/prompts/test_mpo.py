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
