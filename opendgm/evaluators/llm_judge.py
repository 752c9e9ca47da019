"""`llm-judge`: a judge model scores the agent's answer against a rubric.

Tasks come from a JSONL file (`{"id", "statement", "reference"?}`); the agent writes its answer to
`ANSWER.md` in the repository. The judge (role `judge` of the campaign's router) reads the rubric, the
task, the optional reference and the answer, and ends with `SCORE: <0-10>`. The evaluator version names
the rubric, so scores measured under different rubric versions are never compared (MPO evolves rubrics).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from opendgm.agents.contract import REPO_DIR
from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.task import Grade, Task
from opendgm.llm.router import Router
from opendgm.sandbox.base import Sandbox, SandboxError

ANSWER_FILE = "ANSWER.md"
SCORE = re.compile(r"SCORE:\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?", re.IGNORECASE)
JUDGE_PROMPT = """\
You grade answers against a rubric.

Rubric:
{rubric}

Task:
{statement}
{reference}
Answer to grade:
{answer}

Explain briefly, then end with a line `SCORE: N` where N is 0 to 10."""


class LLMJudge(Evaluator):
    """Resolved when the judge's score reaches `threshold` (out of 10)."""

    name = "llm-judge"

    def __init__(
        self, path: str | Path, router: Router, rubric: str, rubric_id: str = "inline", threshold: float = 7.0
    ) -> None:
        self.path, self.router, self.rubric, self.threshold = Path(path), router, rubric, threshold
        self.version = f"llm-judge/1+rubric:{rubric_id}"
        self.rubric_id = rubric_id

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

    def grade(self, task: Task, patch: str, sandbox: Sandbox) -> Grade:
        failed = self.apply_patch(task, patch, sandbox)
        if failed is not None:
            return failed
        try:
            answer = sandbox.get_file(f"{REPO_DIR}/{ANSWER_FILE}").decode(errors="replace")
        except SandboxError:
            return Grade("unresolved", 0, 1, 1, f"no {ANSWER_FILE} was written")
        reference = str(self._rows[task.id].get("reference") or "")
        prompt = JUDGE_PROMPT.format(
            rubric=self.rubric,
            statement=task.statement,
            reference=f"\nReference answer:\n{reference}\n" if reference else "",
            answer=answer,
        )
        verdict = self.router.complete("judge", [{"role": "user", "content": prompt}], purpose=f"judge {task.id}").text
        score = judge_score(verdict)
        if score is None:
            return Grade("grading_error", 0, 0, 1, f"the judge gave no `SCORE: N` line:\n{verdict}")
        status = "resolved" if score >= self.threshold else "unresolved"
        return Grade(status, int(status == "resolved"), int(status != "resolved"), 0, f"score {score}/10\n{verdict}")


def judge_score(verdict: str) -> float | None:
    """The last `SCORE: N` in the judge's text, clamped to 0..10."""
    found = SCORE.findall(verdict)
    return min(max(float(found[-1]), 0.0), 10.0) if found else None
