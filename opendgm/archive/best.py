"""Which agent of a campaign is "the best": the one rule that `status`, `tree`, the dashboard and the exports show.

The rules, named so a report can say which it used:

- `belief` (HGM's best-belief final agent). Each agent's own per-task results are Bernoulli draws of its
  ability; with a uniform prior its belief is Beta(1 + passes, 1 + fails). HGM's paper (arXiv 2510.21614,
  section 3.3 "Final Agent Selection Strategy" and the last line of Algorithm 1) returns the node whose ε
  percentile of that posterior is highest (the regularized incomplete beta function), a pessimistic figure
  that a lucky streak on few tasks cannot win; its experiments use ε = 1 (section 4), the 1st percentile:
  `EPSILON` = 0.01. The released code has no final-selection step (see docs/reproducing.md).
  Agents without any result are not candidates.
- `full_score` (DGM's best agent). The highest score on the full evaluation: among agents whose latest stage is
  complete and is the largest any agent completed (DGM: the 10 + 50 tasks), the highest resolved rate.
- `posterior`: the highest posterior mean (1 + passes) / (2 + passes + fails) among agents with at least
  `min_evaluations` (5) results; the project's rule before the paper's was looked up, kept for comparison.
- `auto` (the default everywhere): `belief` for an HGM campaign (its agents are evaluated task by task in the
  asynchronous pool, stage `pool`), `full_score` for a DGM one.

Ties go to more evidence, then to the older node. Rejected and failed nodes are never the best agent.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from opendgm.archive import summaries
from opendgm.archive.models import NodeSummary

BestRule = Literal["auto", "belief", "full_score", "posterior"]
BEST_RULES: tuple[str, ...] = get_args(BestRule)
DEFAULT_RULE: BestRule = "auto"
ASYNC_POOL = "pool"  # the stage name of HGM's asynchronous evaluation pool (every task, sampled one at a time)
EPSILON = 0.01  # HGM's ε = 1 (percentile; paper section 4): the belief is the posterior's 0.01 quantile
MIN_EVALUATIONS = 5  # for `posterior` only
_NOT_CANDIDATES = frozenset({"rejected", "failed"})


@dataclass(frozen=True)
class BestAgent:
    """The chosen agent and the figure it was chosen on (its belief, posterior mean, or full-evaluation score)."""

    id: str
    rule: BestRule  # the rule actually applied (never `auto`)
    value: float
    passes: int
    fails: int
    stage: str | None
    score: float | None  # its latest stage's score, whatever the rule

    def describe(self) -> str:
        """One line for a terminal or a page: which node, on what figure, by which rule."""
        done = f"{self.passes} of {self.passes + self.fails} tasks resolved"
        if self.rule == "belief":
            return f"{self.id}: belief {self.value:.3f} ({EPSILON:.0%} quantile of its posterior), {done} (HGM)"
        if self.rule == "posterior":
            return f"{self.id}: posterior mean {self.value:.3f} from {done}"
        return f"{self.id}: {self.value:.3f} on the full evaluation ({self.stage}; DGM)"


def resolve(rows: Sequence[NodeSummary], rule: BestRule = DEFAULT_RULE) -> BestRule:
    """The rule `auto` stands for in this archive: HGM's for an asynchronous campaign, DGM's otherwise."""
    if rule not in BEST_RULES:
        raise ValueError(f"unknown best-agent rule {rule!r}; use one of {', '.join(BEST_RULES)}")
    if rule != "auto":
        return rule
    return "belief" if 1 in summaries.column(rows, _in_pool, "b") else "full_score"


def _in_pool(row: NodeSummary) -> bool:
    return row.kind == "agent" and row.stage == ASYNC_POOL


def best_agent(
    rows: Sequence[NodeSummary], rule: BestRule = DEFAULT_RULE, min_evaluations: int = MIN_EVALUATIONS
) -> BestAgent | None:
    """The best agent among `rows` (an `archive.summaries()` list) by `rule`; None while no agent qualifies.

    Each row's ranking key is kept by the summaries cache (a belief costs a bisection: 10^5 of them take seconds),
    so the choice is a C-level `max` and `index` over the keys: the largest key, the first of equal ones."""
    applied = resolve(rows, rule)
    keys = summaries.values(rows, _key(applied, min_evaluations))
    top = max(keys, default=_NONE)
    if top == _NONE:
        return None
    row = rows[keys.index(top)]
    value = top[1] if applied == "full_score" else top[0]
    return BestAgent(row.id, applied, value, row.passes, row.fails, row.stage, row.score)


_NONE = (-1, -1)  # the key of a row the rule cannot rank: below every real key


@functools.cache
def _key(rule: BestRule, min_evaluations: int) -> Callable[[NodeSummary], tuple[float, float]]:
    """A row's ranking key under `rule` (one function per rule, so the cache keeps one column per rule): (figure,
    evidence), or for `full_score` (tasks, score), which ranks the largest complete evaluation first as
    `candidates` keeps only those."""

    def key(row: NodeSummary) -> tuple[float, float]:
        if row.kind != "agent" or row.status in _NOT_CANDIDATES:
            return _NONE
        evidence = row.passes + row.fails
        if rule == "belief":
            return (belief(row.passes, row.fails), evidence) if evidence else _NONE
        if rule == "posterior":
            return ((1 + row.passes) / (2 + evidence), evidence) if evidence >= min_evaluations else _NONE
        if row.stage is not None and row.n_tasks and row.n_done >= row.n_tasks:
            return row.n_tasks, row.n_resolved / row.n_tasks
        return _NONE

    return key


def candidates(
    rows: Sequence[NodeSummary], rule: BestRule = DEFAULT_RULE, min_evaluations: int = MIN_EVALUATIONS
) -> list[tuple[float, int, NodeSummary]]:
    """The agents `rule` can rank, each as (its figure, its evidence, its row); the best has the largest figure,
    then the most evidence, then comes first in `rows`."""
    applied = resolve(rows, rule)
    agents = [row for row in rows if row.kind == "agent" and row.status not in _NOT_CANDIDATES]
    if applied == "belief":
        return [
            (belief(row.passes, row.fails), row.passes + row.fails, row) for row in agents if row.passes + row.fails
        ]
    if applied == "posterior":
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
    if rule == "belief":
        return "none yet: no agent has a task result"
    if rule == "auto":
        return "none yet: no agent has a task result (HGM) or a completed evaluation (DGM)"
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


# -- the Beta posterior's quantile, in the standard library ----------------------------------------------------
def belief(passes: int, fails: int, epsilon: float = EPSILON) -> float:
    """HGM's belief in an agent: the ε-quantile of Beta(1 + passes, 1 + fails)."""
    return beta_quantile(epsilon, 1 + passes, 1 + fails)


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q, by bisection (the CDF is increasing; 60 halvings reach 1e-18 of [0, 1])."""
    if not 0 < q < 1:
        raise ValueError(f"a quantile level lies strictly between 0 and 1, not {q}")
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if beta_cdf(middle, a, b) < q:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b) for a, b > 0 (Lentz's continued fraction, evaluated on
    the side of the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where it converges fast)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _fraction(x, a, b) / a
    return 1 - math.exp(log_front) * _fraction(1 - x, b, a) / b


def _fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of I_x(a, b) (its terms d_1, d_2, ... alternate between two closed forms)."""
    tiny, c, d = 1e-300, 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    value = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            value *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return value
