"""HGM's asynchronous rules: who may be expanded, how evaluations are counted, the selector in async mode."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from opendgm.archive.models import NodeSummary
from opendgm.evolve.config import CampaignConfig, HGMConfig
from opendgm.evolve.selectors import SELECTORS, expandable, hgm

ROLES = {"agent": {"model": "openai/x", "api_base": "http://127.0.0.1:9"}, "meta": {"model": "openai/x"}}


def row(node: str, passes: int, fails: int, parent: str | None = None) -> NodeSummary:
    """An evaluated agent in the async pool (60 tasks) with its own results so far."""
    return NodeSummary(node, parent, "agent", "evaluated", None, "self_improve", node, 0, "pool", 60, passes + fails,
                       passes, passes, fails)  # fmt: skip


TREE = [
    row("seed", 12, 48),
    row("good", 5, 3, "seed"),
    row("fresh", 0, 0, "good"),  # just made: no result yet
    row("zero", 0, 4, "seed"),  # own mean 0: HGM never expands it
    row("deep", 2, 2, "zero"),
]


def test_a_fresh_child_is_never_drawn_and_own_positive_skips_a_zero_mean() -> None:
    rng = random.Random(7)
    drawn = Counter(hgm(expandable(TREE, "own_positive"), 1, rng)[0] for _ in range(10_000))
    assert drawn["fresh"] == 0 and drawn["zero"] == 0
    assert set(drawn) == {"seed", "good", "deep"}
    legacy = Counter(hgm(expandable(TREE, "evaluated"), 1, rng)[0] for _ in range(10_000))
    assert legacy["fresh"] == 0 and legacy["zero"] > 0
    for name in SELECTORS:  # every selector sees the same eligibility in async mode
        picks = {SELECTORS[name](expandable(TREE, "own_positive"), 1, random.Random(i))[0] for i in range(300)}
        assert not picks & {"fresh", "zero"}, name


def test_clade_statistics_still_count_the_ineligible_descendants() -> None:
    """zero's clade pools its own 0/4 with deep's 2/2: Beta(3, 7) with mean 0.3, never drawn itself; the seed's
    clade holds everything (19 of 76); HGM's in-place list extension would have changed the nodes' own counts."""
    rows = expandable(TREE, "own_positive")
    assert [r.passes for r in rows] == [r.passes for r in TREE] and [r.fails for r in rows] == [r.fails for r in TREE]
    from opendgm.evolve.selectors import clade_totals

    clade = clade_totals(rows)
    assert clade["zero"] == (2, 6) and clade["seed"] == (19, 57) and clade["good"] == (5, 3)


def config(**fields: object) -> CampaignConfig:
    base = {"llm": {"roles": ROLES}, "mode": "async", "budget": {"task_evaluations": 10}}
    return CampaignConfig.model_validate(base | fields)


def test_async_uses_hgm_unless_a_selector_is_named_and_then_uses_it() -> None:
    assert config().selector == "hgm"
    assert config(selector="best").selector == "best"
    assert CampaignConfig.model_validate({"llm": {"roles": ROLES}}).selector == "score_child_prop"
    resumed = CampaignConfig.model_validate_json(config(selector="random").model_dump_json())
    assert resumed.selector == "random"


def test_initial_expansions_and_cool_down_need_their_settings() -> None:
    assert HGMConfig(initial_expansions="hgm").first_expansions(20, 0.6) == 5  # min(5, int(20 ** 0.6) = 6)
    assert HGMConfig(initial_expansions="hgm").first_expansions(4, 0.6) == 2  # int(4 ** 0.6) = 2
    assert HGMConfig().first_expansions(20, 0.6) == 0
    with pytest.raises(ValueError, match="cool_down"):
        config(budget={"nodes": 3}, hgm={"cool_down": True})


def test_cool_down_follows_hgms_scheduler_over_the_counted_budget() -> None:
    """tau = (N / (N - n)) ** beta (HGM's hgm.py, the paper's B / b): N = 800 counted evaluations (the preset's
    860 less the seed's 60), halfway doubles both Beta parameters; spent, HGM's 10,000."""
    rules = HGMConfig(cool_down=True)
    assert [rules.sharpness(n, 800) for n in (0, 400, 600, 800, 900)] == [1.0, 2.0, 4.0, 10_000.0, 10_000.0]
    assert HGMConfig(cool_down=True, cool_down_beta=2.0).sharpness(400, 800) == 4.0
    assert HGMConfig().sharpness(400, 800) == 1.0 and rules.sharpness(400, None) == 1.0
