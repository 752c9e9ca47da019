"""`llm-judge`: a judge model scores the agent's answer against a rubric that is an archive node.

Tasks come from a JSONL file (`{"id", "statement", "reference"?, "gold"?}`); the agent writes its answer to
`ANSWER.md` in the repository. Grading applies the agent's diff in a fresh sandbox, reads the answer and
hands it to the judge passed in that call's `Grading`: MPO's judge prompt under one `rubric` node, a
`SCORE: N` out of 10, resolved from `threshold`. `reference` is shown to the judge. `gold`, a regular
expression the answer must match, is shown to nobody: it is the held-out check that MPO's reward-hacking
alarm watches. The evaluator version names the rubric node, so scores under different rubrics are never
compared: an instance grades under one rubric for its whole life (`under(rubric_id)` makes the evaluator of
another), and when MPO adopts a new rubric, `evaluators.judging` re-judges the archive under it.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path

from opendgm.agents import REPO_DIR
from opendgm.evaluators.base import Evaluator, PatchedRun
from opendgm.evaluators.grader.readback import Readback
from opendgm.evaluators.task import NO_GRADING, Grade, Grading, Task
from opendgm.outcomes import Verdict
from opendgm.prompts import Sample
from opendgm.sandbox import Sandbox

ANSWER_FILE = "ANSWER.md"
READ_TIMEOUT_S = 60.0  # printing the answer, once the diff is in
DEFAULT_RUBRIC = (
    "<item>Correctness: award up to 6 points when the answer does what the task asks.</item>\n"
    "<item>Completeness: award up to 3 points when nothing the task asks for is missing.</item>\n"
    "<item>Clarity: award 1 point for a clear, direct answer.</item>"
)


class LLMJudge(Evaluator):
    """Resolved when the judge's score reaches `threshold` (out of 10). `rubric` seeds the rubric lineage."""

    name = "llm-judge"
    grades_by_exit_code = False  # the judge decides, from no test at all
    needs_judge = True

    def __init__(self, path: str | Path, rubric: str = DEFAULT_RUBRIC, threshold: float = 7.0) -> None:
        if not rubric.strip():
            raise ValueError("llm-judge needs a rubric: one `<item>...</item>` per criterion, with its points")
        self.path, self.rubric, self.threshold = Path(path), rubric, float(threshold)
        self.rubric_id, self.version = "unbound", _version("unbound")

    def under(self, rubric_id: str) -> LLMJudge:
        """The same evaluator grading under the rubric node `rubric_id` (its own version); this one is unchanged."""
        bound = copy.copy(self)
        bound.rubric_id, bound.version = rubric_id, _version(rubric_id)
        return bound

    @functools.cached_property
    def _rows(self) -> dict[str, dict]:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return {str(row["id"]): row for row in (json.loads(line) for line in lines if line.strip())}

    def tasks(self) -> list[Task]:
        return [
            Task(
                id=task_id,
                statement=f"{row['statement']}\n\nWrite your answer to `{ANSWER_FILE}` in the repository.",
            )
            for task_id, row in self._rows.items()
        ]

    def grade(self, task: Task, patch: str, sandbox: Sandbox, grading: Grading = NO_GRADING) -> Grade:
        if grading.judge is None:
            raise RuntimeError("llm-judge was given no judge model: run it in a campaign or with `opendgm evaluate`")
        node = grading.node
        path = f"{REPO_DIR}/{ANSWER_FILE}"
        readback = Readback((path,))  # the answer comes home in the grading's one exec
        ran = self.run_patched(sandbox, PatchedRun(task, patch, readback.command(), READ_TIMEOUT_S))
        if isinstance(ran, Grade):
            return ran
        raw = readback.read(ran, sandbox)[1][path]
        if raw is None:
            return Grade("unresolved", 0, 1, 1, f"no {ANSWER_FILE} was written")
        answer = raw.decode(errors="replace")
        row = self._rows[task.id]
        sample = Sample(
            id=f"{node or 'adhoc'}/{task.id}",
            query=task.statement,
            response=answer,
            reference=str(row.get("reference") or ""),
            gold=self.gold(task.id, answer),
            node_id=node,
        )
        judged = grading.judge(sample)
        if judged.score is None:
            return Grade("grading_error", 0, 0, 1, f"the judge gave no `SCORE: N` line:\n{judged.verdict}")
        status: Verdict = "resolved" if judged.score >= self.threshold else "unresolved"
        verdict = f"score {judged.score:g}/10 under rubric {self.rubric_id}\n{judged.verdict}"
        return Grade(status, int(status == "resolved"), int(status != "resolved"), 0, verdict)

    def gold(self, task_id: str, answer: str) -> float | None:
        """1.0 when the answer matches the task's hidden `gold` pattern, 0.0 when not, None without one."""
        pattern = self._rows[task_id].get("gold")
        return None if pattern is None else float(re.search(pattern, answer, re.IGNORECASE) is not None)


def _version(rubric_id: str) -> str:
    return f"llm-judge/2+rubric:{rubric_id}"
