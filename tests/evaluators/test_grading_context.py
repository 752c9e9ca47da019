"""Each grading call gets its `Grading` (whose diff, which judge): no evaluator is rebound between calls, an
llm-judge's version never changes, and a plug-in written for the three-argument `grade` keeps working.

Logic only, with a stand-in sandbox; the real path (Docker, a scripted judge model, MPO adopting a rubric and
re-judging) is tests/evolve/test_judged_campaign.py.
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

import pytest

from opendgm.evaluators import NO_GRADING, Evaluator, Grade, Grading, Task
from opendgm.evaluators.base import grade_with
from opendgm.evaluators.grader import steps
from opendgm.evaluators.llm_judge import LLMJudge
from opendgm.evaluators.registry import available
from opendgm.prompts.mpo import Judged, Sample
from opendgm.sandbox import ExecResult, SandboxSpec


class StandIn:
    """Just enough of a sandbox for an empty diff: the grading script's steps succeed and ANSWER.md holds
    `answer` (read from the sandbox: the stand-in prints no readback line)."""

    spec = SandboxSpec()

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def exec(
        self, command: str, timeout: float, cwd: str | None = None, env: object = None, *, last: bool = False
    ) -> ExecResult:
        return ExecResult(0, "".join(steps.mark(step) for step in steps.STEPS), "", False, 0.0)

    def put_files(self, path: str, files: dict[str, bytes]) -> None:
        pass

    def get_file(self, path: str) -> bytes:
        return self.answer.encode()


def judge_scoring(score: float, seen: list[Sample]) -> object:
    def judge(sample: Sample) -> Judged:
        seen.append(sample)
        return Judged(sample, score, f"SCORE: {score}")

    return judge


@pytest.fixture
def llm_judge(tmp_path: Path) -> LLMJudge:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "t1", "statement": "Say hello."}) + "\n")
    return LLMJudge(tasks)


def test_the_judge_and_the_node_come_with_each_call_and_nothing_is_rebound(llm_judge: LLMJudge) -> None:
    task = llm_judge.tasks()[0]
    under = llm_judge.under("n0007")
    assert (llm_judge.version, under.version) == ("llm-judge/2+rubric:unbound", "llm-judge/2+rubric:n0007")
    seen: list[Sample] = []
    high = grade_with(under, task, "", StandIn("hello"), Grading("n0002", judge_scoring(9, seen)))  # type: ignore[arg-type]
    low = grade_with(under, task, "", StandIn("hello"), Grading("n0003", judge_scoring(2, seen)))  # type: ignore[arg-type]
    assert (high.status, low.status) == ("resolved", "unresolved")
    assert [(s.id, s.node_id) for s in seen] == [("n0002/t1", "n0002"), ("n0003/t1", "n0003")]
    assert under.version == "llm-judge/2+rubric:n0007" and llm_judge.version.endswith(":unbound")  # unchanged
    with pytest.raises(RuntimeError, match="no judge"):
        under.grade(task, "", StandIn("hello"))  # type: ignore[arg-type]


def test_a_plug_in_with_the_old_grade_signature_still_grades_with_a_deprecation_warning() -> None:
    task = Task(id="t", statement="s")

    class OldStyle(Evaluator):
        name, version = "old-style", "1"

        def tasks(self) -> list[Task]:
            return [task]

        def grade(self, task: Task, patch: str, sandbox: object) -> Grade:  # type: ignore[override]
            return Grade("resolved", 1, 0, 0, "graded the old way")

    class NewStyle(OldStyle):
        def grade(self, task: Task, patch: str, sandbox: object, grading: Grading = NO_GRADING) -> Grade:  # type: ignore[override]
            return Grade("resolved", 1, 0, 0, f"graded for {grading.node}")

    with pytest.warns(DeprecationWarning, match=r"OldStyle\.grade\(task, patch, sandbox\) is deprecated"):
        assert grade_with(OldStyle(), task, "", StandIn(""), Grading("n1")).output == "graded the old way"  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per class, and never for the new signature
        assert grade_with(OldStyle(), task, "", StandIn(""), Grading("n1")).output == "graded the old way"  # type: ignore[arg-type]
        assert grade_with(NewStyle(), task, "", StandIn(""), Grading("n1")).output == "graded for n1"  # type: ignore[arg-type]


def test_every_built_in_evaluator_takes_the_grading_of_each_call() -> None:
    built_in = {name: entry.load() for name, entry in available().items() if entry.value.startswith("opendgm.")}
    assert {"humaneval", "repo-tasks", "polyglot", "swebench", "llm-judge"} <= built_in.keys()
    for name, cls in built_in.items():
        assert "grading" in inspect.signature(cls.grade).parameters, f"{name}: grade(..., grading) expected"
