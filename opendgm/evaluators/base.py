"""The Evaluator interface and the repository workflow most evaluators share.

Grading happens in a fresh sandbox built from the agent's diff, never in the container the agent ran
in; hidden tests enter only then, and the agent's changes to protected (test) files are dropped first.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import ClassVar

from pydantic import BaseModel

from opendgm.agents import REPO_DIR
from opendgm.archive import EvaluatorKey
from opendgm.evaluators.grader import steps
from opendgm.evaluators.grader.hooks import drop_hooks
from opendgm.evaluators.grader.steps import HIDDEN_DIR, PATCH_FILE
from opendgm.evaluators.patches import drop_protected, outside_copies
from opendgm.evaluators.task import NO_GRADING, Grade, Grading, Task
from opendgm.outcomes import Verdict
from opendgm.sandbox import ExecResult, Sandbox, SandboxError

UNITTEST_RAN = re.compile(r"^Ran (\d+) tests?", re.MULTILINE)
UNITTEST_FAILED = re.compile(r"^FAILED \((.*)\)$", re.MULTILINE)
PYTEST_SUMMARY = re.compile(r"(\d+) (passed|failed|error|errors)\b")
#: a grading repository without git history (`Evaluator.grading_prepare_command`)
NO_HISTORY = f"mkdir -p {REPO_DIR}"


def grade_status(timed_out: bool, exit_code: int) -> Verdict:
    if timed_out:
        return "grading_timeout"
    return "resolved" if exit_code == 0 else "unresolved"


class EvaluatorProblem(ValueError):
    """An evaluator's input cannot be used (its options, its subsets file); the message names it and why."""


class UnknownSubset(EvaluatorProblem, KeyError):
    """A stage or `--subset` names a subset or task id the evaluator does not have (said with the close names)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class PatchedRun:
    """One command run on a fresh copy of `task`'s repository with the agent's diff applied (`run_patched`).

    `command` runs in the repository under `timeout_s`, with `env`; `files` (folder -> files) are put in
    beforehand, `hidden` (paths relative to the repository) placed once the diff is in; `then`, when given,
    runs after the command however it ended (the command's status is kept): what the grader reads back.
    `last`: the grader uses the sandbox no more once this run ends (see `Sandbox.exec`).
    """

    task: Task
    patch: str
    command: str
    timeout_s: float
    files: Mapping[str, Mapping[str, bytes | str]] = field(default_factory=dict)
    hidden: Mapping[str, bytes] = field(default_factory=dict)
    env: Mapping[str, str] | None = None
    then: str = ""
    last: bool = False


class Evaluator(ABC):
    """A benchmark: tasks with named subsets, a way to prepare a workspace and to grade one."""

    name: str = "abstract"
    version: str = "0"
    #: the keyword options the evaluator takes, as a pydantic model (unknown keys forbidden): the registry
    #: validates and converts a user's options against it. None: options are checked against the signature only.
    Options: ClassVar[type[BaseModel] | None] = None
    #: fnmatch patterns of files whose changes by the agent are dropped before grading
    protected_patterns: tuple[str, ...] = ()
    #: whether `grade` is this default one, which trusts the test command's exit code (code under test can
    #: forge it); graders that decide from per-test outcomes against an expected list (`grader`) say False
    grades_by_exit_code: bool = True
    #: whether grading asks a model: then every `grade` call gets the judge in its `Grading` (llm-judge)
    needs_judge: ClassVar[bool] = False
    #: how long preparing the repository may take (`prepare_command`)
    prepare_timeout_s: float = 120

    @property
    def key(self) -> EvaluatorKey:
        """What its results and scores are stored and compared under."""
        return EvaluatorKey(self.name, self.version)

    @abstractmethod
    def tasks(self) -> list[Task]:
        """Every task, in a stable order."""

    def subsets(self) -> dict[str, list[str]]:
        """Named task-id lists (stages of a campaign pick from these). `all` is always there."""
        return {"all": [task.id for task in self.tasks()]}

    def select(self, subset: str = "all", limit: int | None = None) -> list[Task]:
        """The tasks of a named subset (or a comma-separated list of ids), at most `limit` of them."""
        by_id = {task.id: task for task in self.tasks()}
        named = self.subsets()
        ids = named[subset] if subset in named else [part for part in subset.split(",") if part]
        unknown = [task_id for task_id in ids if task_id not in by_id]
        if unknown:
            close = difflib.get_close_matches(unknown[0], [*named, *by_id], n=3)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            raise UnknownSubset(
                f"{self.name}: unknown subset or task ids {unknown[:5]}{hint}; subsets: {', '.join(sorted(named))}"
            )
        return [by_id[task_id] for task_id in ids[:limit]]

    # -- workspace -----------------------------------------------------------------------------
    # The contract: an evaluator says how its repository is prepared as a shell command (`prepare_command`)
    # rather than running the steps itself, and grades through `run_patched`. Grading can then prepare, apply
    # the diff, place the hidden tests and run them in one sandbox exec (`grader.steps`): every exec costs
    # engine round trips and a process start, most of a cheap grading (issue 18). Evaluators written for the
    # old contract (overriding `prepare` or `apply_patch`) keep working, step by step, with a DeprecationWarning.
    def prepare_command(self, task: Task) -> str:
        """Shell commands, run from the workspace once the task's `repo_files` are in the repository folder,
        that make the repository the agent starts from (a git repository with one commit; made without git's
        template folder, whose sample hooks nothing runs and whose copying was a third of the time)."""
        return (
            f"mkdir -p {REPO_DIR} && cd {REPO_DIR} && git init -q --template= && git add -A "
            "&& git commit -q --allow-empty -m 'task start'"
        )

    def grading_prepare_command(self, task: Task) -> str:
        """How grading makes the repository the agent's diff is applied to: `prepare_command` by default. A grader
        that reads no history may return `NO_HISTORY` (the folder only): `git apply` outside a repository refuses
        what it refuses inside one (a path through a link, outside the tree or into .git), and grading skips git
        init, add and commit, three processes of a cheap grading (issue 18)."""
        return self.prepare_command(task)

    def prepare(self, task: Task, sandbox: Sandbox) -> str:
        """Put the task's repository into the sandbox as a git repository; returns the base commit."""
        if task.repo_files:
            sandbox.put_files(REPO_DIR, task.repo_files)
        init = sandbox.exec(
            f"( {self.prepare_command(task)} ) && git -C {REPO_DIR} rev-parse HEAD", timeout=self.prepare_timeout_s
        )
        if not init.ok:
            raise SandboxError(f"could not prepare the repository for {task.id}: {init.stderr.strip()}")
        return init.stdout.strip().splitlines()[-1]

    def grade(self, task: Task, patch: str, sandbox: Sandbox, grading: Grading = NO_GRADING) -> Grade:
        """Apply the agent's diff to a fresh copy of the task, add the hidden tests, run the tests. `grading`
        says whose diff it is and carries the judge of an evaluator that `needs_judge`."""
        # the command's output is all it reads: the sandbox's last command
        command = PatchedRun(
            task, patch, task.test_command, task.grading_timeout_s, hidden=task.hidden_tests, last=True
        )
        run = self.run_patched(sandbox, command)
        if isinstance(run, Grade):
            return run
        output = run.stdout + run.stderr
        passed, failed_tests = self.count_tests(output, run.exit_code)
        return Grade(grade_status(run.timed_out, run.exit_code), passed, failed_tests, run.exit_code, output)

    def run_patched(self, sandbox: Sandbox, run: PatchedRun) -> Grade | ExecResult:
        """`run` (a fresh repository with the agent's diff applied, minus protected files and import hooks, see
        `apply_patch`; the command and what comes after it) in one sandbox exec. A Grade (`patch_failed`) when
        the diff does not apply, else the command's result."""
        refused = _refused(run.patch)
        if refused is not None:
            return refused
        if not _one_exec(type(self)):
            return self._run_patched_stepwise(sandbox, run)
        task, patch = run.task, self._applicable(run.patch)
        patch_file = PurePosixPath(PATCH_FILE)
        groups = [*run.files.items(), (REPO_DIR, task.repo_files), (HIDDEN_DIR, run.hidden)]
        groups.append((str(patch_file.parent), {patch_file.name: patch} if patch.strip() else {}))
        workdir = sandbox.spec.workdir
        _put_together(sandbox, workdir, groups)
        lines = steps.script(
            self.grading_prepare_command(task), workdir, run.command, run.timeout_s,
            patched=bool(patch.strip()), hidden=bool(run.hidden), then=run.then,
        )  # fmt: skip
        limit = run.timeout_s + self.prepare_timeout_s + steps.APPLY_TIMEOUT_S
        ran = sandbox.exec(lines, timeout=limit, cwd=workdir, env=run.env, last=run.last)
        stepped = steps.read(ran, run.timeout_s)
        if stepped.failed == "prepared":
            raise SandboxError(f"could not prepare the repository for {task.id}: {ran.stderr.strip()[-2000:]}")
        if stepped.failed == "applied":
            return Grade("patch_failed", 0, 0, ran.exit_code, ran.stderr)
        if stepped.failed == "placed":
            raise SandboxError(f"could not place the hidden tests of {task.id}: {ran.stderr.strip()[-2000:]}")
        return stepped.run

    def _run_patched_stepwise(self, sandbox: Sandbox, run: PatchedRun) -> Grade | ExecResult:
        """`run_patched` for an evaluator of the old contract: its own `prepare` and `apply_patch`, one exec each."""
        failed = self.apply_patch(run.task, run.patch, sandbox)
        if failed is not None:
            return failed
        if run.hidden:
            sandbox.put_files(REPO_DIR, run.hidden)
        for folder, group in run.files.items():
            sandbox.put_files(folder, group)
        command = f"cd {REPO_DIR} && {run.command}"
        if run.then:
            command = f"( {command} ); status=$?; ( {run.then} ); exit $status"
        return sandbox.exec(command, timeout=run.timeout_s, env=run.env)

    def apply_patch(self, task: Task, patch: str, sandbox: Sandbox) -> Grade | None:
        """Prepare a fresh repository and apply the diff minus protected files (so they stay as the task
        has them) and minus import hooks (`grader.hooks`); a Grade if that failed. Two execs: graders that
        run tests after it use `run_patched`, which does it all in one."""
        self.prepare(task, sandbox)
        refused = _refused(patch)
        if refused is not None:
            return refused
        patch = self._applicable(patch)
        if not patch.strip():
            return None
        sandbox.put_files(str(PurePosixPath(PATCH_FILE).parent), {PurePosixPath(PATCH_FILE).name: patch})
        applied = sandbox.exec(
            f"cd {REPO_DIR} && git apply --whitespace=nowarn {PATCH_FILE}", timeout=steps.APPLY_TIMEOUT_S
        )
        return None if applied.ok else Grade("patch_failed", 0, 0, applied.exit_code, applied.stderr)

    def _applicable(self, patch: str) -> str:
        """The diff minus protected files and import hooks (the hooks' reasons are recorded by `grade_patch`)."""
        patch, _dropped = drop_protected(patch, list(self.protected_patterns))
        return drop_hooks(patch)[0]

    def count_tests(self, output: str, exit_code: int) -> tuple[int, int]:
        """(passed, failed) read from unittest or pytest output; one test when neither says."""
        ran = UNITTEST_RAN.search(output)
        if ran:
            failed_line = UNITTEST_FAILED.search(output)
            failed = sum(int(n) for n in re.findall(r"=(\d+)", failed_line.group(1))) if failed_line else 0
            return int(ran.group(1)) - failed, failed
        counts = {kind: int(n) for n, kind in PYTEST_SUMMARY.findall(output)}
        if counts:
            failed = counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
            return counts.get("passed", 0), failed
        return (1, 0) if exit_code == 0 else (0, 1)

    def reference_patch(self, task: Task) -> str | None:
        """A diff known to solve the task, where the benchmark ships one (used to verify the grader)."""
        return None

    def diagnosis_tests(self, task: Task) -> str:
        """The hidden tests as text for the host-side diagnosis model (DGM shows it the test patch); never
        given to an agent."""
        return "\n\n".join(f"## {path}\n{data.decode('utf-8', 'replace')}" for path, data in task.hidden_tests.items())


def grade_with(evaluator: Evaluator, task: Task, patch: str, sandbox: Sandbox, grading: Grading = NO_GRADING) -> Grade:
    """`evaluator.grade` with this call's `grading`; a plug-in written for the old three-argument `grade`
    keeps working (without `grading`) and is warned once per class."""
    if _takes_grading(type(evaluator)):
        return evaluator.grade(task, patch, sandbox, grading=grading)
    return evaluator.grade(task, patch, sandbox)


@functools.cache
def _takes_grading(cls: type[Evaluator]) -> bool:
    parameters = inspect.signature(cls.grade).parameters
    if "grading" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return True
    warnings.warn(
        f"{cls.__module__}.{cls.__qualname__}.grade(task, patch, sandbox) is deprecated: "
        "add a fourth parameter, `grading: opendgm.evaluators.Grading`",
        DeprecationWarning,
        stacklevel=3,
    )
    return False


def _refused(patch: str) -> Grade | None:
    """`patch_failed` for a diff that copies a file from outside the repository (`patches.outside_copies`)."""
    sources = outside_copies(patch)
    if not sources:
        return None
    return Grade("patch_failed", 0, 0, 1, f"refused: the diff copies from outside the repository: {sources[:5]}\n")


def _put_together(sandbox: Sandbox, workdir: str, groups: list[tuple[str, Mapping[str, bytes | str]]]) -> None:
    """Put (folder, files) groups into the sandbox as one archive where they lie under `workdir` (one transfer,
    not one per folder); a group elsewhere goes in on its own."""
    together: dict[str, bytes | str] = {}
    for folder, group in groups:
        path = PurePosixPath(folder)
        if not path.is_relative_to(workdir):
            sandbox.put_files(folder, group)
            continue
        together.update({str(path.relative_to(workdir) / name): data for name, data in group.items()})
    if together:
        sandbox.put_files(workdir, together)


@functools.cache
def _one_exec(cls: type[Evaluator]) -> bool:
    """Whether `cls` keeps to the one-exec contract: it prepares by `prepare_command` and applies diffs the
    standard way. One that overrides `prepare` or `apply_patch` below its `prepare_command` grades step by step
    (several execs) and is warned once per class."""

    def owner(name: str) -> type:
        return next(klass for klass in cls.__mro__ if name in vars(klass))

    command = owner("prepare_command")
    old = [
        name for name in ("prepare", "apply_patch") if owner(name) is not command and issubclass(owner(name), command)
    ]
    if not old:
        return True
    warnings.warn(
        f"{cls.__module__}.{cls.__qualname__} overrides {' and '.join(old)}: grading then takes one sandbox exec "
        "per step; say how the repository is prepared in `prepare_command(task)` instead",
        DeprecationWarning,
        stacklevel=3,
    )
    return False
