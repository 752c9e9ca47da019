"""Judge-scored prompt campaigns: the dev outputs of each prompt are scored by an LLM judge against a
rubric node that MPO evolves, while exact match stays the held-out gold check the judge never sees.

This is MPO's setting with a prompt search as the policy: selection follows the judge (the proxy), so a
search that learns to please the judge instead of solving the task raises the judge's mean while gold
stays flat or falls, which the rubric loop's hacking alarm records; the meta-reward model then rewrites
the rubric. Judge results are ordinary archive results of evaluator `judge:<dataset>` whose version names
the rubric node, so scores compare only under one rubric; after a refinement the pool is re-judged under
the new rubric (judge calls only: the task model's outputs are reused from the gold results).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from opendgm.archive import Archive, EvaluatorKey, ResultRecord, ResultStatus
from opendgm.prompts import mpo
from opendgm.prompts.rubrics import RubricLoop
from opendgm.prompts.target import Attempt
from opendgm.prompts.template import Placement, render


class JudgedDev:
    """Scores a prompt's dev outputs with the rubric loop's judge, caching by (prompt text, rubric)."""

    def __init__(self, archive: Archive, loop: RubricLoop, dataset: str, version: str, threshold: float) -> None:
        self.archive, self.loop, self.threshold = archive, loop, threshold
        self.evaluator, self.version = f"judge:{dataset}", version

    def rubric_version(self) -> str:
        return f"{self.version};rubric:{self.loop.rubric_id}"

    def score(
        self, node_id: str, prompt: str, attempts: Sequence[Attempt], placement: Placement, *, count: bool = True
    ) -> float:
        """The share of dev outputs the judge scores at least `threshold`, under the current rubric.
        `count=False` re-judges without moving the MPO interval (a refresh, not a new policy step)."""
        key = EvaluatorKey(self.evaluator, self.rubric_version())
        self.archive.record_stage(node_id, *key, "dev", [a.example.id for a in attempts])
        cached = self.archive.cached_result
        known = {a.example.id: cached(node_id, *key, a.example.id) for a in attempts}
        missing = [a for a in attempts if known[a.example.id] is None]
        if missing:
            samples = [self._sample(node_id, prompt, a, placement) for a in missing]
            for attempt, judged in zip(missing, self.loop.score(samples, count=count), strict=True):
                detail = json.dumps({"score": judged.score, "verdict": judged.verdict})
                record = ResultRecord(node_id, key, attempt.example.id, self._status(judged), detail=detail)
                known[attempt.example.id] = self.archive.record_result(record)
        return sum(1 for r in known.values() if r is not None and r.resolved) / len(known) if known else 0.0

    def _status(self, judged: mpo.Judged) -> ResultStatus:
        if judged.score is None:
            return "grading_error"  # the judge gave no score: counted as not good, and visible as such
        return "resolved" if judged.score >= self.threshold else "unresolved"

    @staticmethod
    def _sample(node_id: str, prompt: str, attempt: Attempt, placement: Placement) -> mpo.Sample:
        """What the judge sees: the task model's full input and its output, never the label (gold)."""
        return mpo.Sample(
            id=f"{node_id}/{attempt.example.id}",
            query=render(prompt, attempt.example.input, placement),
            response=attempt.output,
            gold=float(attempt.correct),
            node_id=node_id,
        )
