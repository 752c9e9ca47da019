"""The scores and child counts the selectors see, as the campaign's `scoring` block defines them.

The archive's one-query summaries give each node its latest stage's score and every child it has. DGM
instead scores a node over all tasks of every stage it completed (10 + 50 = 60 on SWE-bench) and, in
`score_child_prop`, counts only the children that are in its archive (evaluated, not rejected, not still
being made). `rows` rewrites the summaries accordingly, so every selector and stage rule reads one view.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from opendgm.archive import EvaluatorKey, NodeSummary, Score, Summaries
from opendgm.evolve.config import ScoringConfig

KEPT = "evaluated"


def cumulative(scores: Sequence[Score], evaluator: EvaluatorKey) -> tuple[int, int] | None:
    """(resolved, tasks) over every complete stage of the evaluator; None before any stage completes."""
    done = [s for s in scores if (s.evaluator, s.evaluator_version) == evaluator and s.complete]
    if not done:
        return None
    return sum(s.n_resolved for s in done), sum(s.n_tasks for s in done)


def rows(
    summaries: list[NodeSummary],
    scores: Mapping[str, Sequence[Score]],
    options: ScoringConfig,
    evaluator: EvaluatorKey,
) -> list[NodeSummary]:
    """The summaries with scores and child counts as `options` defines them: under the defaults the very rows given
    (an `Archive.summaries` list keeps its selectors' weights and HGM's clade sums between selections), else
    rewritten rows that keep the clade sums (the rewrite never touches parents, passes or fails)."""
    if options.children == "all" and options.score == "last_stage":
        return summaries
    kept = Counter(row.parent_id for row in summaries if row.kind == "agent" and row.status == KEPT)
    out = []
    for row in summaries:
        if options.children == "kept":
            row = row._replace(n_children=kept[row.id])
        if options.score == "cumulative":
            total = cumulative(scores.get(row.id, ()), evaluator)
            if total is not None:
                row = row._replace(n_resolved=total[0], n_tasks=total[1], n_done=total[1])
        out.append(row)
    return summaries.rewritten(out) if isinstance(summaries, Summaries) else out


def in_top(node_id: str, view: Sequence[NodeSummary], top: int) -> bool:
    """Whether the node ranks among the `top` best evaluated agents (ties count in its favour)."""
    mine = next(row.score for row in view if row.id == node_id)
    better = [
        row
        for row in view
        if row.id != node_id and row.kind == "agent" and row.status == KEPT and (row.score or 0.0) > (mine or 0.0)
    ]
    return len(better) < top


def below_seed(view: Sequence[NodeSummary], node_id: str, seed_id: str, margin: float) -> str | None:
    """DGM's `keep_better`: why the node may not stay in the archive (its score is below the seed's minus
    `margin`), or None when it may."""
    score = {row.id: row.score or 0.0 for row in view}
    if score[node_id] >= score[seed_id] - margin - 1e-12:
        return None
    return f"score {score[node_id]:.3f} is below the seed's {score[seed_id]:.3f} minus {margin}"
