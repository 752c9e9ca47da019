"""The `llm-judge` evaluator's rubric inside an archive, evolved by MPO between an agent campaign's generations.

- The evaluator's `rubric` option seeds a `rubric` lineage (`rubrics.RubricLoop`). `RubricJudge.evaluator`
  is the evaluator under the current rubric (its version names the rubric) and `RubricJudge.judge` the judge
  passed into each grading call; it grades each answer under that rubric, with its calls charged to it.
  Each answer it grades becomes a `judged` event on the agent node (the sample, its score and the rubric),
  and the agent gets a `scored_under` edge to the rubric.
- After every `interval` generations, the interval closes over the answers judged under the current rubric
  since the previous close. That records an `mpo_interval` event and runs the reward-hacking alarm (judge
  score against the tasks' hidden `gold` patterns). Then, per `refine`, the meta-reward model rewrites the
  rubric.
- An adopted rubric is a new evaluator version. Before the next selection, every agent graded under an
  earlier rubric is judged again under the new one from its stored diff; no agent runs again. The new
  results join the old ones, which stay. Re-judging is idempotent, so it resumes where a killed run left it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from functools import partial

from opendgm.archive import Archive, EvaluatorKey, ResultRecord, TaskResult
from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evaluators.llm_judge import LLMJudge
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.task import Grading, Task
from opendgm.llm import LLMError, Router
from opendgm.outcomes import INFRA_EVENT
from opendgm.prompts import Judged, MPOOptions, RubricLoop, Sample, completer
from opendgm.sandbox import BackendName

log = logging.getLogger(__name__)

JUDGED = "judged"  # event kind: one answer judged for a policy step (not a re-judgement)
JUDGED_STATUSES = ("resolved", "unresolved", "grading_error")  # results that carry a judge's verdict


class RubricJudge:
    """The archive's rubric lineage for an `LLMJudge`: the evaluator under the current rubric (`evaluator`, a new
    one when MPO adopts a rubric; none is ever changed) and the judge to pass into its grading calls (`judge`)."""

    def __init__(
        self, archive: Archive, evaluator: Evaluator, router: Router, options: MPOOptions, seed: int = 0
    ) -> None:
        if not isinstance(evaluator, LLMJudge):
            raise TypeError(f"{evaluator.name} has no rubric lineage: only llm-judge grades with a judge")
        self.archive, self.options = archive, options
        judge, mrm = partial(completer, router, options.role), partial(completer, router, options.mrm_role)
        meta = {"evaluator": evaluator.name}
        self.loop = RubricLoop.open(archive, evaluator.rubric, judge, mrm, options.settings(seed), meta)
        self.evaluator = evaluator.under(self.loop.rubric_id)

    def judge(self, sample: Sample) -> Judged:
        """Score one answer under the current rubric, recorded as a `judged` event (a sample for MPO's step)."""
        judged = self.loop.judge_one(sample)
        data = asdict(sample) | {"rubric": self.evaluator.rubric_id, "score": judged.score, "verdict": judged.verdict}
        self.archive.log_event(JUDGED, sample.node_id, data)
        return judged

    def between_generations(self, stages: Mapping[str, list[Task]], backend: BackendName, workers: int) -> None:
        """Close the interval when `interval` generations have passed since the last close (MPO may adopt a
        new rubric), then re-judge whatever an earlier rubric graded. Call it with no grading in flight."""
        last_close = self.archive.latest_events(1, kind="mpo_interval")
        since = last_close[0].id if last_close else 0
        events = self.archive.events(since_id=since)
        if sum(1 for e in events if e.kind == "generation") >= self.options.interval:
            window = [_judged(e.data) for e in events if e.kind == JUDGED and e.data["rubric"] == self.loop.rubric_id]
            adopted = self.loop.close_interval(window)
            if adopted:
                self.evaluator = self.evaluator.under(adopted)
                log.info("MPO adopted rubric %s; re-judging the archive under it", adopted)
        self.rejudge(stages, backend, workers)

    def rejudge(self, stages: Mapping[str, list[Task]], backend: BackendName, workers: int) -> int:
        """Give every agent graded under an earlier rubric the same stages under the current one: answers the
        judge saw are graded again from their stored diffs, the others (no diff, a diff that did not apply)
        keep their status. Returns how many results were added."""
        due = self._due(stages, self.evaluator.key)
        if not due:
            return 0
        executor, failures = LocalExecutor(workers), []
        try:
            for (node_id, task, _old), outcome in executor.map_unordered(partial(self._grade_again, backend), due):
                if isinstance(outcome, BaseException):  # nothing recorded: the next call retries it
                    failures.append(outcome)
                    detail = f"re-judging: {type(outcome).__name__}: {outcome}"
                    kind = "model_service" if isinstance(outcome, LLMError) else "host"
                    data = {"task": task.id, "kind": kind, "detail": detail}
                    self.archive.log_event(INFRA_EVENT, node_id, data)
        finally:
            executor.shutdown()
        model_errors = [failure for failure in failures if isinstance(failure, LLMError)]
        if model_errors:  # the judge is down or the budget is spent: selecting on half-judged stages would mislead
            raise model_errors[0]
        return len(due) - len(failures)

    def _due(self, stages: Mapping[str, list[Task]], key: EvaluatorKey) -> list[tuple[str, Task, TaskResult]]:
        """(node, task, its result under an earlier rubric) for every task the current rubric has not graded;
        the node's stages are recorded under the current version on the way."""
        (name, version), due = key, []
        scores = self.archive.scores_by_node()  # one query: this runs at every generation boundary
        for node in self.archive.nodes(kind="agent"):
            stages_of = scores.get(node.id, [])
            earlier = {s.stage for s in stages_of if s.evaluator == name and s.evaluator_version != version}
            for stage in sorted(earlier & stages.keys()):
                tasks = {task.id: task for task in stages[stage]}
                self.archive.record_stage(node.id, *key, stage, list(tasks))
                previous = {r.task_id: r for r in self.archive.results(node.id, name) if r.evaluator_version != version}
                for task_id, _attempt in self.archive.missing_tasks(node.id, *key, stage):
                    if task_id in previous:
                        due.append((node.id, tasks[task_id], previous[task_id]))
        return due

    def _grade_again(self, backend: BackendName, item: tuple[str, Task, TaskResult]) -> None:
        node_id, task, old = item
        status, log_path = old.status, old.log_path
        passed, failed, detail = old.tests_passed, old.tests_failed, old.detail
        if old.status in JUDGED_STATUSES and old.patch_path:
            patch = self.archive.artifacts.read_text(old.patch_path)
            grading = Grading(node_id, self.loop.judge_one)  # no `judged` event: a re-judgement is no policy step
            grade = grade_patch(self.evaluator, task, patch, backend, self.archive.campaign, grading)
            status, passed, failed, detail = grade.status, grade.tests_passed, grade.tests_failed, None
            folder = f"results/{node_id}/{self.evaluator.name}/{task.id}"
            log_path = self.archive.artifacts.put(f"{folder}/rejudged-{self.evaluator.rubric_id}.txt", grade.output)
        again = ResultRecord(
            node_id, self.evaluator.key, task.id, status, exit_code=old.exit_code, duration_s=old.duration_s,
            log_path=log_path, trajectory_path=old.trajectory_path, patch_path=old.patch_path, tests_passed=passed,
            tests_failed=failed, detail=detail,
        )  # fmt: skip
        self.archive.record_result(again)


def _judged(data: Mapping[str, object]) -> Judged:
    """A `judged` event back as the pair MPO's interval and refinement read."""
    sample = Sample(**{key: data[key] for key in Sample.__dataclass_fields__})  # type: ignore[arg-type]
    return Judged(sample, data["score"], str(data["verdict"]))  # type: ignore[arg-type]
