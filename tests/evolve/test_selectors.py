"""Parent selectors: seeded, and their choices follow the distributions they claim."""

from __future__ import annotations

import math
import random
from collections import Counter

from opendgm.archive.models import NodeSummary
from opendgm.evolve.selectors import SELECTORS, candidates, clade_totals


def row(node: str, parent: str | None, score: float | None, children: int = 0, status: str = "evaluated",
        passes: int = 0, fails: int = 0) -> NodeSummary:  # fmt: skip
    return NodeSummary(
        id=node, parent_id=parent, kind="agent", status=status, status_reason=None, operator=None, code_hash=None,
        n_children=children, stage=None if score is None else "s", n_tasks=10, n_done=10,
        n_resolved=0 if score is None else round(score * 10), passes=passes, fails=fails,
    )  # fmt: skip


ROWS = [
    row("n1", None, 0.2, children=2, passes=2, fails=8),
    row("n2", "n1", 0.6, children=0, passes=6, fails=4),
    row("n3", "n1", 0.6, children=3, passes=6, fails=4),
    row("n4", "n3", None, status="evaluating"),
    row("n5", "n3", 0.9, status="rejected", passes=9, fails=1),
]


def frequencies(name: str, draws: int = 20000) -> Counter[str]:
    return Counter(SELECTORS[name](ROWS, draws, random.Random(7)))


def test_only_evaluated_scored_agents_can_be_parents() -> None:
    assert [r.id for r in candidates(ROWS)] == ["n1", "n2", "n3"]
    for name in SELECTORS:
        assert set(SELECTORS[name](ROWS, 50, random.Random(1))) <= {"n1", "n2", "n3"}, name
        assert SELECTORS[name]([], 3, random.Random(1)) == [], name


def test_score_child_prop_follows_dgm_weights() -> None:
    weight = {r.id: 1 / (1 + math.exp(-10 * (r.score - 0.5))) / (1 + r.n_children) for r in candidates(ROWS)}
    total = sum(weight.values())
    seen = frequencies("score_child_prop")
    for node, w in weight.items():
        assert abs(seen[node] / 20000 - w / total) < 0.015, (node, seen[node] / 20000, w / total)
    assert seen["n2"] > 3 * seen["n3"], "same score, fewer children: chosen more often"


def test_best_picks_the_best_not_the_worst() -> None:
    assert SELECTORS["best"](ROWS, 3, random.Random(0)) == ["n2"] * 3  # DGM's `best` sorted ascending


def test_hill_climb_follows_the_newest_champion() -> None:
    assert SELECTORS["hill_climb"](ROWS, 2, random.Random(0)) == ["n3", "n3"]


def test_hgm_samples_by_clade_metaproductivity() -> None:
    clades = clade_totals(ROWS)
    assert clades["n3"] == (6 + 9, 4 + 1) and clades["n1"] == (2 + 6 + 6 + 9, 8 + 4 + 4 + 1)
    seen = frequencies("hgm", 5000)
    # n3's clade (15 passes of 20) beats n2's own record (6 of 10) and the root's (23 of 40) most of the time
    assert seen["n3"] > seen["n2"] > seen["n1"]


def test_choices_are_reproducible_from_the_seed() -> None:
    for name in SELECTORS:
        assert SELECTORS[name](ROWS, 20, random.Random(3)) == SELECTORS[name](ROWS, 20, random.Random(3))
