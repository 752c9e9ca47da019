"""Which agent of a campaign is "the best": the one rule that `status`, `tree`, the dashboard and the exports show.

Two rules, named so a report can say which it used:

- `posterior` (default; HGM's "best-belief" final agent). Each agent's own per-task results are Bernoulli
  draws of its ability; with a uniform prior its belief is Beta(1 + passes, 1 + fails), whose mean is
  (1 + passes) / (2 + passes + fails). The best agent is the one with the highest posterior mean among agents
  with at least `min_evaluations` (5) results, so one lucky task cannot crown a node. HGM's public code and
  paper call the agent they ship "best-belief" without stating a formula we could find; this is the issue's
  documented choice (see docs/reproducing.md when it lands).
- `full_score` (DGM). The highest score on the full evaluation: among agents whose latest stage is complete and
  is the largest any agent completed (DGM: the 10 + 50 tasks), the highest resolved rate.

Ties go to more evidence, then to the older node. Rejected and failed nodes are never the best agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from opendgm.archive.models import NodeSummary

BestRule = Literal["posterior", "full_score"]
BEST_RULES: tuple[str, ...] = get_args(BestRule)
DEFAULT_RULE: BestRule = "posterior"
MIN_EVALUATIONS = 5
_NOT_CANDIDATES = frozenset({"rejected", "failed"})


@dataclass(frozen=True)
class BestAgent:
    """The chosen agent and the figure it was chosen on (posterior mean, or full-evaluation score)."""

    id: str
    rule: BestRule
    value: float
    passes: int
    fails: int
    stage: str | None
    score: float | None  # its latest stage's score, whatever the rule

    def describe(self) -> str:
        """One line for a terminal or a page: which node, on what figure, by which rule."""
        if self.rule == "posterior":
            return (
                f"{self.id}: posterior mean {self.value:.3f} from {self.passes} of {self.passes + self.fails}"
                " tasks resolved (HGM best-belief)"
            )
        return f"{self.id}: {self.value:.3f} on the full evaluation ({self.stage}; DGM)"


def best_agent(
    rows: Sequence[NodeSummary], rule: BestRule = DEFAULT_RULE, min_evaluations: int = MIN_EVALUATIONS
) -> BestAgent | None:
    """The best agent among `rows` (an `archive.summaries()` list) by `rule`; None while no agent qualifies."""
    scored = candidates(rows, rule, min_evaluations)
    if not scored:
        return None
    order = {row.id: index for index, row in enumerate(rows)}
    value, _, row = max(scored, key=lambda item: (item[0], item[1], -order[item[2].id]))
    return BestAgent(row.id, rule, value, row.passes, row.fails, row.stage, row.score)


def candidates(
    rows: Sequence[NodeSummary], rule: BestRule = DEFAULT_RULE, min_evaluations: int = MIN_EVALUATIONS
) -> list[tuple[float, int, NodeSummary]]:
    """The agents `rule` can rank, each as (its figure, its evidence, its row); the best has the largest figure,
    then the most evidence, then comes first in `rows`."""
    if rule not in BEST_RULES:
        raise ValueError(f"unknown best-agent rule {rule!r}; use one of {', '.join(BEST_RULES)}")
    agents = [row for row in rows if row.kind == "agent" and row.status not in _NOT_CANDIDATES]
    if rule == "posterior":
        return [
            ((1 + row.passes) / (2 + row.passes + row.fails), row.passes + row.fails, row)
            for row in agents
            if row.passes + row.fails >= min_evaluations
        ]
    complete = [row for row in agents if row.stage is not None and row.n_tasks and row.n_done >= row.n_tasks]
    largest = max((row.n_tasks for row in complete), default=0)
    return [(row.n_resolved / row.n_tasks, row.n_tasks, row) for row in complete if row.n_tasks == largest]


def why_none(rule: BestRule = DEFAULT_RULE, min_evaluations: int = MIN_EVALUATIONS) -> str:
    """What a view says while `best_agent` has no answer."""
    if rule == "posterior":
        return f"none yet: no agent has {min_evaluations} task results"
    return "none yet: no agent has completed an evaluation"


def best_path(rows: Sequence[NodeSummary], node_id: str) -> list[str]:
    """The ids from the root down to `node_id` (how the best agent came to be), from the same rows."""
    parent = {row.id: row.parent_id for row in rows}
    path: list[str] = []
    current: str | None = node_id
    while current is not None and current in parent and current not in path:
        path.append(current)
        current = parent[current]
    return path[::-1]
