"""`repo-tasks`: a directory of tasks anyone can write without Python.

    TASKS_DIR/
      subsets.toml            optional: small = ["task-a", "task-b"]
      task-a/
        task.toml             statement (or statement_file), timeouts, image, optional `tests`
        repo/                 the repository the agent starts from
        tests/                hidden unittest tests, copied to tests/ in the repository only at grading

Grading runs the hidden tests with the trusted harness (`grader`): unittest discovery of `tests/test*.py`
with the standard library ahead of the repository on the import path, per-test outcomes on a channel the
tests cannot write, scored against `tests` (unittest ids such as `test_median.TestMedian.test_even`) or,
without that list, the test methods the hidden files define. `test_command` is kept for reading old task
files; it no longer decides anything (an exit code can be forged by the code under test).

A task that cannot be read is still listed, marked invalid with the reason, so a run reports it per task
and goes on with the others.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from opendgm.evaluators.base import Evaluator, EvaluatorProblem, PatchedRun
from opendgm.evaluators.grader.channel import HARNESS_DIR, MARGIN_S, harness_job
from opendgm.evaluators.grader.collect import unittest_ids
from opendgm.evaluators.grader.verdict import score
from opendgm.evaluators.task import NO_GRADING, Grade, Grading, Task
from opendgm.evaluators.task_files import read_tree
from opendgm.sandbox import DEFAULT_IMAGE, Sandbox

TASK_FILE = "task.toml"
SUBSETS_FILE = "subsets.toml"
TESTS_DIR = "tests"
TEST_PATTERN = "test*.py"
_SUBSETS = TypeAdapter(dict[str, list[str]])


class RepoTasksOptions(BaseModel):
    """The options of `repo-tasks`."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="The directory of tasks.")
    protected: tuple[str, ...] = Field(("tests/*",), description="Files whose changes are dropped before grading.")


class TaskFile(BaseModel):
    """The schema of task.toml."""

    model_config = ConfigDict(extra="forbid")

    statement: str | None = None
    statement_file: str | None = None
    test_command: str | None = None  # informational only: grading is the trusted unittest harness
    tests: list[str] | None = None  # the expected unittest ids; default: those the hidden files define
    agent_timeout_s: float = Field(600, gt=0)
    grading_timeout_s: float = Field(120, gt=0)
    image: str = DEFAULT_IMAGE

    @model_validator(mode="after")
    def _one_statement(self) -> TaskFile:
        if (self.statement is None) == (self.statement_file is None):
            raise ValueError("give exactly one of `statement` or `statement_file`")
        return self


class RepoTasks(Evaluator):
    """Tasks read from a directory in the format above."""

    name = "repo-tasks"
    grades_by_exit_code = False
    version = "repo-tasks/1"
    Options = RepoTasksOptions

    def __init__(self, path: str | Path, protected: tuple[str, ...] = ("tests/*",)) -> None:
        self.root = Path(path)
        if not self.root.is_dir():
            raise FileNotFoundError(f"repo-tasks: {self.root} is not a directory of tasks")
        self.protected_patterns = protected
        self.expected: dict[str, list[str]] = {}

    def tasks(self) -> list[Task]:
        tasks = []
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir():
                task, expected = read_task(folder)
                self.expected[task.id] = expected
                tasks.append(task)
        return tasks

    def grade(self, task: Task, patch: str, sandbox: Sandbox, grading: Grading = NO_GRADING) -> Grade:
        """The hidden tests, run by the trusted harness, scored against the task's expected tests."""
        job = harness_job(["unittest", TESTS_DIR, TEST_PATTERN], task.grading_timeout_s)
        timeout_s = task.grading_timeout_s + MARGIN_S
        files, hidden = {HARNESS_DIR: job.files}, task.hidden_tests
        # the harness's line on stdout is all it reads: the sandbox's last command
        run = PatchedRun(task, patch, job.command, timeout_s, files=files, hidden=hidden, last=True)
        ran = self.run_patched(sandbox, run)
        if isinstance(ran, Grade):
            return ran
        result = job.result(ran)
        expected = self.expected.get(task.id)
        if expected is None:
            expected = read_task(self.root / task.id)[1]
        return score(
            expected,
            result.outcomes,
            timed_out=result.timed_out,
            exit_code=result.exit_code,
            output=result.output,
            notes=result.notes,
        )

    def subsets(self) -> dict[str, list[str]]:
        named = {"all": [task.id for task in self.tasks()]}
        listing = self.root / SUBSETS_FILE
        if listing.exists():
            named.update(read_subsets(listing))
        return named


def read_subsets(listing: Path) -> dict[str, list[str]]:
    """subsets.toml: names to lists of task ids; anything else is one clear error naming the file."""
    try:
        return _SUBSETS.validate_python(tomllib.loads(listing.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EvaluatorProblem(f"{listing}: cannot be read as TOML ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        raise EvaluatorProblem(f"{listing}: each subset is a list of task ids ({problems})") from None


def read_task(folder: Path) -> tuple[Task, list[str]]:
    """One task folder as a Task, with its expected unittest ids (`tests` of task.toml, else what the
    hidden files define); problems become an invalid task with a reason, never an exception."""
    try:
        spec = TaskFile.model_validate(tomllib.loads((folder / TASK_FILE).read_text(encoding="utf-8")))
        statement = spec.statement or (folder / str(spec.statement_file)).read_text(encoding="utf-8")
        repo = folder / "repo"
        if not repo.is_dir():
            raise FileNotFoundError(f"{repo} is missing (the repository the agent starts from)")
        hidden = {f"{TESTS_DIR}/{name}": data for name, data in read_tree(folder / TESTS_DIR).items()}
        task = Task(
            id=folder.name,
            statement=statement,
            repo_files=read_tree(repo),
            hidden_tests=hidden,
            test_command=f"opendgm harness: unittest discover {TESTS_DIR}/{TEST_PATTERN}",
            image=spec.image,
            agent_timeout_s=spec.agent_timeout_s,
            grading_timeout_s=spec.grading_timeout_s,
        )
        return task, sorted(spec.tests) if spec.tests is not None else unittest_ids(hidden, TESTS_DIR, TEST_PATTERN)
    except tomllib.TOMLDecodeError as exc:
        return _invalid(folder, f"not valid TOML: {exc}"), []
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'task'}: {e['msg']}" for e in exc.errors())
        return _invalid(folder, f"invalid fields: {fields}"), []
    except OSError as exc:
        return _invalid(folder, f"cannot read: {exc}"), []
    except UnicodeDecodeError as exc:
        return _invalid(folder, f"a file of the task is not UTF-8 text ({exc.reason} at byte {exc.start})"), []


def _invalid(folder: Path, reason: str) -> Task:
    return Task(id=folder.name, statement="", invalid=f"{folder / TASK_FILE}: {reason}")
