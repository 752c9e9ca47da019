"""The best agent: HGM's best-belief rule (the 1% quantile of Beta(1 + passes, 1 + fails)), DGM's (highest score on
the full evaluation), the posterior-mean rule, and `auto` choosing by the campaign's mode; hand-computed cases and a
real archive."""

from __future__ import annotations

import random
from math import comb
from pathlib import Path

import pytest

from opendgm.archive import Archive, EvaluatorKey, NodeSummary, ResultRecord
from opendgm.archive.best import belief, best_agent, best_path, beta_cdf, candidates
from tests.support.archive_helpers import write_tree


def row(
    node: str,
    passes: int,
    fails: int,
    *,
    parent: str | None = None,
    status: str = "evaluated",
    stage: tuple[int, int, int] | None = None,
    kind: str = "agent",
) -> NodeSummary:
    """A summary row; `stage` is (n_tasks, n_done, n_resolved) of the node's latest stage."""
    n_tasks, n_done, n_resolved = stage or (0, 0, 0)
    return NodeSummary(
        node, parent, kind, status, None, "self_improve", "hash", 0, "s" if stage else None,  # type: ignore[arg-type]
        n_tasks, n_done, n_resolved, passes, fails,
    )  # fmt: skip


def at_least(a: int, n: int, x: float) -> float:
    """P(Binomial(n, x) >= a), which equals I_x(a, n + 1 - a) for whole a: the CDF by hand, no continued fraction."""
    return sum(comb(n, k) * x**k * (1 - x) ** (n - k) for k in range(a, n + 1))


def test_beta_quantiles_match_closed_forms_and_the_binomial_identity() -> None:
    assert belief(4, 0) == pytest.approx(0.01 ** (1 / 5))  # Beta(5, 1): CDF x^5
    assert belief(0, 3) == pytest.approx(1 - 0.99 ** (1 / 4))  # Beta(1, 4): CDF 1 - (1 - x)^4
    assert belief(0, 0) == pytest.approx(0.01)  # Beta(1, 1): uniform
    for passes, fails in [(12, 48), (30, 10), (7, 3), (1, 1), (200, 600)]:
        x = belief(passes, fails)
        assert at_least(1 + passes, 1 + passes + fails, x) == pytest.approx(0.01, abs=1e-9), (passes, fails)
    assert beta_cdf(0.3, 5, 7) == pytest.approx(at_least(5, 11, 0.3))
    assert beta_cdf(0.3, 5, 7) == pytest.approx(1 - beta_cdf(0.7, 7, 5))


def test_best_belief_is_hgm_final_agent_on_a_fixed_tree() -> None:
    """argmax of the 1% quantile: a 4/4 streak (0.398) loses to 30/40 (0.568); a lucky 9/0 was rejected."""
    rows = [
        row("seed", 12, 48, stage=(60, 60, 12)),  # 0.1053
        row("lucky", 4, 0, parent="seed", stage=(60, 4, 4)),  # 0.01 ** (1/5) = 0.3981
        row("steady", 30, 10, parent="seed", stage=(60, 40, 30)),  # 0.5681
        row("bad", 9, 0, parent="steady", status="rejected"),
        row("fresh", 0, 0, parent="steady", stage=(60, 0, 0)),  # no result: not a candidate
    ]
    rows = [r._replace(stage="pool") for r in rows]  # an async (HGM) campaign: `auto` means best-belief
    best = best_agent(rows)
    assert best is not None and (best.id, best.rule) == ("steady", "belief")
    assert at_least(31, 41, best.value) == pytest.approx(0.01, abs=1e-9)
    assert "HGM" in best.describe() and "30 of 40" in best.describe()
    assert best_agent(rows[:2]).id == "lucky"  # type: ignore[union-attr]  # 0.398 > 0.105
    assert best_agent([rows[-1]]) is None


def test_auto_is_dgm_full_score_for_a_generations_campaign() -> None:
    rows = [row("n1", 9, 1, stage=(10, 10, 9)), row("n2", 35, 25, stage=(60, 60, 35))]
    best = best_agent(rows)
    assert best is not None and (best.id, best.rule) == ("n2", "full_score")


def test_posterior_mean_prefers_evidence_over_a_lucky_streak() -> None:
    rows = [
        row("n1", 4, 0),  # 4 results: not enough evidence, though 4/4 looks best
        row("n2", 6, 4),  # (1 + 6) / (2 + 10) = 0.5833
        row("n3", 5, 2),  # (1 + 5) / (2 + 7) = 0.6667
        row("n4", 9, 0, status="rejected"),  # never the best agent
    ]
    best = best_agent(rows, "posterior")
    assert best is not None and best.id == "n3" and best.rule == "posterior"
    assert best.value == pytest.approx(6 / 9) and (best.passes, best.fails) == (5, 2)
    assert best_agent(rows, "posterior", min_evaluations=4).id == "n1"  # type: ignore[union-attr]  # 5 / 6
    assert best_agent(rows[:1], "posterior") is None


def test_ties_go_to_more_evidence_then_to_the_older_node() -> None:
    same_mean = [row("n1", 2, 2), row("n2", 4, 4), row("n3", 4, 4)]  # all 0.5
    assert best_agent(same_mean, "posterior", min_evaluations=4).id == "n2"  # type: ignore[union-attr]


def test_full_score_is_dgm_highest_score_on_the_largest_completed_evaluation() -> None:
    rows = [
        row("n1", 9, 1, stage=(10, 10, 9)),  # 0.9 on the first stage only
        row("n2", 30, 30, stage=(60, 60, 30)),  # 0.5 on the full 60
        row("n3", 35, 25, stage=(60, 60, 35)),  # 0.583 on the full 60: DGM's best
        row("n4", 40, 5, stage=(60, 45, 40)),  # still running its full evaluation
    ]
    best = best_agent(rows, "full_score")
    assert best is not None and best.id == "n3" and best.value == pytest.approx(35 / 60)
    assert "full evaluation" in best.describe()
    with pytest.raises(ValueError, match="unknown best-agent rule"):
        best_agent(rows, "highest")  # type: ignore[arg-type]


def test_prompt_nodes_are_not_agents_and_best_path_walks_to_the_root() -> None:
    rows = [row("n1", 1, 5), row("n2", 3, 3, parent="n1"), row("n3", 5, 1, parent="n2"), row("p", 50, 0, kind="prompt")]
    best = best_agent(rows, "belief")
    assert best is not None and best.id == "n3"
    assert best_path(rows, "n3") == ["n1", "n2", "n3"]


def test_best_agent_of_a_real_archive(archive: Archive, tmp_path: Path) -> None:
    """Identical code shares results: a child with the seed's code inherits its evidence (and stays younger)."""
    seed = archive.add_agent(write_tree(tmp_path / "a", {"a.py": "x = 1\n"}), operator="seed")
    child = archive.add_agent(write_tree(tmp_path / "b", {"a.py": "x = 2\n"}), seed.id, operator="self_improve")
    tasks = [f"t{i}" for i in range(6)]
    for node, solved in ((seed.id, 2), (child.id, 5)):
        archive.set_status(node, "evaluating")
        archive.record_stage(node, "toy", "1", "all", tasks)
        for index, task in enumerate(tasks):
            archive.record_result(
                ResultRecord(
                    node, EvaluatorKey("toy", "1"), task, status="resolved" if index < solved else "unresolved"
                )
            )
        archive.set_status(node, "evaluated")
    best = best_agent(archive.summaries(), "posterior")
    assert best is not None and best.id == child.id and best.value == pytest.approx(6 / 8)
    assert best_agent(archive.summaries()).id == child.id  # type: ignore[union-attr]  # auto: DGM's full score  # type: ignore[union-attr]


def _reference(rows: list[NodeSummary], rule: str) -> tuple[str, float] | None:
    """main's `best_agent`: the first of the largest (figure, evidence) among `candidates`."""
    scored = candidates(rows, rule)  # type: ignore[arg-type]
    if not scored:
        return None
    value, _, chosen = max(scored, key=lambda item: item[:2])
    return chosen.id, value


def _random_rows(rng: random.Random, size: int) -> list[NodeSummary]:
    rows = []
    for index in range(size):
        n_tasks = rng.choice([0, 4, 10, 10])
        staged = rng.random() < 0.8
        rows.append(
            NodeSummary(
                f"n{index:04d}",
                None,
                rng.choice(["agent"] * 6 + ["prompt"]),
                rng.choice(["evaluated", "evaluating", "rejected", "failed"]),
                None,
                None,
                None,
                0,  # type: ignore[arg-type]
                rng.choice(["s", "pool"]) if staged else None,
                n_tasks,
                rng.randint(0, n_tasks),
                rng.randint(0, n_tasks),
                rng.randint(0, 6),
                rng.randint(0, 6),
            )
        )
    return rows


@pytest.mark.parametrize("rule", ["auto", "belief", "full_score", "posterior"])
def test_kept_ranking_keys_choose_what_the_candidates_choose(rule: str, archive: Archive, tmp_path: Path) -> None:
    """The best agent from the keys the summaries cache keeps (and from plain rows) is the first of the largest
    (figure, evidence) among `candidates`, with ties everywhere, while a real archive changes."""
    rng = random.Random(rule)
    for size in (0, 1, 5, 60):
        for _ in range(20):
            rows = _random_rows(rng, size)
            chosen = best_agent(rows, rule)  # type: ignore[arg-type]
            assert (chosen and (chosen.id, chosen.value)) == _reference(rows, rule)
    codes = [write_tree(tmp_path / f"code{i}", {"agent.py": f"v = {i}\n"}) for i in range(3)]
    nodes = [archive.add_agent(codes[0]).id]
    key = EvaluatorKey("e", "1")
    for step in range(60):
        node, action = rng.choice(nodes), rng.random()
        if action < 0.2:
            nodes.append(archive.add_agent(rng.choice(codes), node).id)
        elif action < 0.3:
            stage = rng.choice(["pool", f"s{step}"])
            archive.record_stage(node, *key, stage, [f"t{i}" for i in range(4 if stage == "pool" else step % 4 + 1)])
        elif action < 0.35:
            archive.set_status(node, "rejected")
        else:
            archive.record_result(
                ResultRecord(node, key, f"t{rng.randrange(4)}", status=rng.choice(["resolved", "unresolved"]))
            )
        rows = archive.summaries(None, *key)
        chosen = best_agent(rows, rule)  # type: ignore[arg-type]
        assert (chosen and (chosen.id, chosen.value)) == _reference(list(rows), rule)
