"""DGM's scores on a fixed archive (real SQLite and git): cumulative over stages, kept children only,
keep_better eligibility, the third stage's top-two rule."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from opendgm.evolve import scoring
from opendgm.evolve.config import ScoringConfig
from opendgm.evolve.selectors import SELECTORS

EV, VER = "bench", "1"
SMALL = [f"s{i}" for i in range(10)]
MEDIUM = [f"m{i}" for i in range(50)]


def agent(archive: Archive, tmp: Path, name: str, parent: str | None) -> str:
    folder = tmp / "code" / name
    folder.mkdir(parents=True)
    (folder / "agent.py").write_text(f"# {name}\n")
    return archive.add_agent(folder, parent, operator="seed" if parent is None else "self_improve").id


def evaluated(archive: Archive, node: str, small: int, medium: int | None) -> None:
    """The node resolved `small` of the 10 first-stage tasks and (if it went on) `medium` of the 50."""
    archive.set_status(node, "evaluating")
    for stage, ids, solved in (("1:small", SMALL, small), ("2:medium", MEDIUM, medium)):
        if solved is None:
            continue
        archive.record_stage(node, EV, VER, stage, ids)
        for index, task in enumerate(ids):
            archive.record_result(
                ResultRecord(node, EvaluatorKey(EV, VER), task, status="resolved" if index < solved else "unresolved")
            )
    archive.set_status(node, "evaluated")


@pytest.fixture
def fixed(tmp_path: Path) -> Any:
    """seed (2/10, 10/50) -> a (5/10, 25/50) -> b (3/10); seed -> c (rejected), seed -> d (still being made)."""
    archive = Archive.create(tmp_path / "a", "fixed")
    with archive:
        seed = agent(archive, tmp_path, "seed", None)
        evaluated(archive, seed, 2, 10)
        a = agent(archive, tmp_path, "a", seed)
        evaluated(archive, a, 5, 25)
        b = agent(archive, tmp_path, "b", a)
        evaluated(archive, b, 3, None)
        c = agent(archive, tmp_path, "c", seed)
        archive.set_status(c, "rejected", "the child's own tests fail")
        d = archive.propose("agent", seed, operator="self_improve").id
        yield archive, {"seed": seed, "a": a, "b": b, "c": c, "d": d}


class Recorder:
    """Stands in for the selector's RNG and keeps the weights it is asked to sample with."""

    def choices(
        self,
        pool: list[Any],
        weights: list[float] | None = None,
        *,
        cum_weights: list[float] | None = None,
        k: int = 1,
    ) -> list[Any]:
        if cum_weights is not None:  # the selector draws over every row, non-candidates weighing 0
            weights = [high - low for low, high in zip([0.0, *cum_weights], cum_weights, strict=False)]
        assert weights is not None
        self.weights = {row.id: weight for row, weight in zip(pool, weights, strict=True) if weight}
        return pool[:k]


def dgm_weight(resolved: int, tasks: int, kept_children: int) -> float:
    """DGM_outer.py's score_child_prop: sigmoid(10 * (accuracy - 0.5)) / (1 + children in the archive)."""
    return 1 / (1 + math.exp(-10 * (resolved / tasks - 0.5))) / (1 + kept_children)


def view(archive: Archive, options: ScoringConfig) -> list[Any]:
    rows = archive.summaries(evaluator=EV, evaluator_version=VER)
    return scoring.rows(rows, archive.scores_by_node(), options, EvaluatorKey(EV, VER))


def test_score_child_prop_weights_are_dgms_formula(fixed: Any) -> None:
    archive, ids = fixed
    rng = Recorder()
    SELECTORS["score_child_prop"](view(archive, ScoringConfig(score="cumulative", children="kept")), 1, rng)
    expected = {
        ids["seed"]: dgm_weight(12, 60, 1),  # c was rejected and d is unfinished: neither is in DGM's archive
        ids["a"]: dgm_weight(30, 60, 1),
        ids["b"]: dgm_weight(3, 10, 0),  # stopped after the first stage: its score is over those 10
    }
    assert rng.weights == pytest.approx(expected)


def test_defaults_are_unchanged(fixed: Any) -> None:
    archive, ids = fixed
    rows = archive.summaries(evaluator=EV, evaluator_version=VER)
    assert view(archive, ScoringConfig()) == rows
    by_id = {row.id: row for row in rows}
    assert by_id[ids["seed"]].score == 10 / 50 and by_id[ids["seed"]].n_children == 3


def test_third_stage_needs_the_top_two(fixed: Any) -> None:
    archive, ids = fixed
    rows = view(archive, ScoringConfig(score="cumulative"))
    assert scoring.in_top(ids["a"], rows, 1) and scoring.in_top(ids["b"], rows, 2)
    assert not scoring.in_top(ids["seed"], rows, 2), "a (0.5) and b (0.3) rank above the seed (0.2)"


def test_keep_better_admits_children_within_the_margin_of_the_seed(fixed: Any) -> None:
    archive, ids = fixed
    rows = view(archive, ScoringConfig(score="cumulative"))  # seed 0.2, a 0.5, b 0.3
    assert scoring.below_seed(rows, ids["a"], ids["seed"], 0.1) is None
    assert scoring.below_seed(rows, ids["b"], ids["seed"], 0.1) is None
    assert "below the seed's 0.500" in str(scoring.below_seed(rows, ids["b"], ids["a"], 0.1))  # 0.3 < 0.5 - 0.1
    assert scoring.below_seed(rows, ids["b"], ids["a"], 0.2) is None  # exactly at the margin: kept


def test_no_darwin_expands_the_newest_agent_of_the_archive(fixed: Any) -> None:
    archive, ids = fixed  # c was rejected and d is unfinished: b is the newest archive member
    rows = archive.summaries(evaluator=EV, evaluator_version=VER)
    assert SELECTORS["newest"](rows, 2, Recorder()) == [ids["b"], ids["b"]]
