"""Exact match: the answer is extracted from prose before comparing."""

from __future__ import annotations

import pytest

from opendgm.prompts.scoring import ExactMatch, extract_answer

score = ExactMatch()


@pytest.mark.parametrize(
    ("output", "target", "correct"),
    [
        ("34", "34", True),
        ("First 13-2=11, then 11+11=22, 22+12=34.\nThe answer is 34.", "34", True),
        ("Answer: 34 apples", "34", True),
        ("The answer is 35.", "34", False),
        ("34 is wrong, the answer is 33", "34", False),
        ("Temleh", "temleh", True),
        ("the reversed word is:\ntemleh.", "temleh", True),
        ("helmet", "temleh", False),
        ("Answer: goblet,  jungle, kitten", "goblet, jungle, kitten", True),
        ("", "1", False),
        ("18A", "18a", True),
    ],
)
def test_exact_match(output, target, correct):
    assert score(output, target) is correct


def test_extraction_prefers_the_last_stated_answer():
    assert extract_answer("answer is 3, no wait, the answer is 4\nbye") == "4"
    assert extract_answer("line one\n\nline two\n") == "line two"
