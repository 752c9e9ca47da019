"""Every selector draws exactly what main's plain-list selectors (96b0026, frozen below as the reference) drew from
the same seed: over random rows (ties, rows without a stage, non-agents, rejected nodes, roots and orphans), and
over the columns a real archive's summaries cache keeps while results, stages, nodes and status changes land."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from itertools import accumulate
from pathlib import Path

import numpy
import pytest

from opendgm.archive import Archive, EvaluatorKey, NodeSummary, ResultRecord, summaries
from opendgm.archive.models import TRANSITIONS
from opendgm.evolve.selectors import SELECTORS, expandable, hgm
from tests.support.archive_helpers import write_tree

# --- the reference: main's selectors over a plain list, as they were before the kept columns ---------------------


def _ref_candidate(row: NodeSummary) -> bool:
    return row.kind == "agent" and row.status == "evaluated" and row.stage is not None


def _ref_score_child_prop(rows: Sequence[NodeSummary], k: int, rng: random.Random) -> list[str]:
    def weight(row: NodeSummary) -> float:
        if not _ref_candidate(row):
            return 0.0
        score = row.n_resolved / row.n_tasks if row.n_tasks else 0.0
        return 1 / (1 + math.exp(-10 * (score - 0.5))) / (1 + row.n_children)

    weights = [weight(row) for row in rows]
    end = len(weights)
    while end and not weights[end - 1]:
        end -= 1
    if not end:
        return []
    return [row.id for row in rng.choices(rows[:end], cum_weights=list(accumulate(weights[:end])), k=k)]


def _ref_best(rows: Sequence[NodeSummary], k: int, rng: random.Random) -> list[str]:
    pool = sorted(filter(_ref_candidate, rows), key=lambda row: (-(row.score or 0.0), row.n_children, row.id))
    return [pool[0].id] * k if pool else []


def _ref_uniform(rows: Sequence[NodeSummary], k: int, rng: random.Random) -> list[str]:
    pool = list(filter(_ref_candidate, rows))
    return [rng.choice(pool).id for _ in range(k)] if pool else []


def _ref_hill_climb(rows: Sequence[NodeSummary], k: int, rng: random.Random) -> list[str]:
    pool = list(filter(_ref_candidate, rows))
    if not pool:
        return []
    top = max(row.score or 0.0 for row in pool)
    return [[row for row in pool if (row.score or 0.0) == top][-1].id] * k


def _ref_newest(rows: Sequence[NodeSummary], k: int, rng: random.Random) -> list[str]:
    pool = list(filter(_ref_candidate, rows))
    return [pool[-1].id] * k if pool else []


def _ref_hgm(rows: Sequence[NodeSummary], k: int, rng: random.Random, sharpen: float = 1.0) -> list[str]:
    pool = numpy.flatnonzero(numpy.fromiter(map(_ref_candidate, rows), dtype=bool, count=len(rows)))
    if not len(pool):
        return []
    sums = summaries.clade_sums(list(rows))
    passes, fails = (numpy.frombuffer(column, dtype=numpy.int64)[pool] for column in sums)
    draws = numpy.random.default_rng(rng.getrandbits(128))
    return [rows[pool[draws.beta(sharpen * (1 + passes), sharpen * (1 + fails)).argmax()]].id for _ in range(k)]


def _ref_expandable(rows: Sequence[NodeSummary], rule: str) -> list[NodeSummary]:
    least = 1 if rule == "own_positive" else 0
    ready = lambda row: row.passes + row.fails > 0 and row.passes >= least  # noqa: E731
    return [row if row.kind != "agent" or ready(row) else row._replace(status="evaluating") for row in rows]


REFERENCE: dict[str, Callable[[Sequence[NodeSummary], int, random.Random], list[str]]] = {
    "score_child_prop": _ref_score_child_prop,
    "hgm": _ref_hgm,
    "best": _ref_best,
    "random": _ref_uniform,
    "hill_climb": _ref_hill_climb,
    "newest": _ref_newest,
}


def _same_draws(rows: Sequence[NodeSummary], reference_rows: list[NodeSummary], seed: int) -> None:
    """Each selector on `rows` draws what the reference draws on the plain list, and leaves the rng in its state."""
    assert set(SELECTORS) == set(REFERENCE)
    for name, select in SELECTORS.items():
        for k in (1, 2, 5):
            mine, theirs = random.Random(seed), random.Random(seed)
            assert select(rows, k, mine) == REFERENCE[name](reference_rows, k, theirs), (name, k, seed)
            assert mine.getstate() == theirs.getstate(), (name, k, seed)
    for sharpen in (0.3, 2.5):
        mine, theirs = random.Random(seed), random.Random(seed)
        assert hgm(rows, 3, mine, sharpen) == _ref_hgm(reference_rows, 3, theirs, sharpen), (sharpen, seed)


def _random_rows(rng: random.Random, size: int) -> list[NodeSummary]:
    rows: list[NodeSummary] = []
    for index in range(size):
        parent = rng.choice([None, "n9999", *(row.id for row in rows[-5:])]) if rows else None
        staged = rng.random() < 0.8
        n_tasks = rng.choice([0, 1, 3, 10])
        rows.append(
            NodeSummary(
                id=f"n{rng.choice([index, index + 10_000, index * 7]):04d}",  # ids out of creation order too
                parent_id=parent,
                kind="agent" if rng.random() < 0.85 else "prompt",
                status=rng.choice(["evaluated"] * 4 + ["rejected", "evaluating", "built"]),
                status_reason=None,
                operator=None,
                code_hash=None,
                n_children=rng.choice([0, 0, 1, 2, 5]),
                stage="s" if staged else None,
                n_tasks=n_tasks,
                n_done=n_tasks,
                n_resolved=rng.randint(0, n_tasks),  # few distinct scores: many ties
                passes=rng.randint(0, 6),
                fails=rng.randint(0, 6),
            )
        )
    return rows


@pytest.mark.parametrize("size", [0, 1, 2, 7, 40, 300])
def test_every_selector_draws_what_main_drew_over_plain_rows(size: int) -> None:
    rng = random.Random(size)
    for seed in range(25):
        rows = _random_rows(rng, size)
        _same_draws(rows, rows, seed)


def test_every_selector_draws_what_main_drew_over_the_kept_columns(tmp_path: Path) -> None:
    """A real archive changing between selections: the cache's kept columns and clade sums draw what a plain list
    of the same rows draws through the reference."""
    rng = random.Random(5)
    key = EvaluatorKey("e", "1")
    codes = [write_tree(tmp_path / f"code{i}", {"agent.py": f"v = {i}\n"}) for i in range(3)]
    tasks = [f"t{i}" for i in range(4)]
    with Archive.create(tmp_path / "c", "draws") as archive:
        nodes = [archive.add_agent(codes[0]).id]
        for step in range(90):
            node, action = rng.choice(nodes), rng.random()
            if action < 0.2:
                nodes.append(archive.add_agent(rng.choice(codes), node, operator="op").id)
            elif action < 0.3:
                archive.record_stage(node, *key, f"s{step}", rng.sample(tasks, rng.randint(1, len(tasks))))
            elif action < 0.45 and (allowed := sorted(TRANSITIONS[archive.node(node).status] - {"failed"})):
                archive.set_status(node, rng.choice(allowed))
            else:
                status = rng.choice(["resolved", "unresolved"])
                archive.record_result(ResultRecord(node, key, rng.choice(tasks), status=status))
            for kind in ("agent", None):
                rows = archive.summaries(kind, *key)
                assert isinstance(rows, summaries.Summaries)
                _same_draws(rows, list(rows), step)
                for rule in ("evaluated", "own_positive"):  # async mode's readiness view, kept columns rewritten
                    shown = expandable(rows, rule)
                    assert shown == _ref_expandable(list(rows), rule)
                    _same_draws(shown, list(shown), step)
