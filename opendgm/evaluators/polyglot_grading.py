"""Grading a Polyglot exercise from per-test outcomes, against the tests the exercise itself reports.

The expected tests are collected on the exercise as shipped (its tests, un-skipped, with its reference
solution, else with its stub), in the same image and with the same script as the grade.
Then the agent's diff is applied to a fresh copy, the task's test files and build/test configuration are
put back, and the runner's report decides: a test expected but not reported counts as failed, zero
expected tests is never resolved, and `resolved` means every expected test passed (DGM's "all tests
pass"). The counts are recorded beside it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from opendgm.agents import REPO_DIR
from opendgm.evaluators.base import Evaluator, PatchedRun
from opendgm.evaluators.grader.canary import check_canary, new_token, with_canary
from opendgm.evaluators.grader.channel import HARNESS_DIR, MARGIN_S, harness_job
from opendgm.evaluators.grader.readback import Readback
from opendgm.evaluators.grader.steps import HIDDEN_DIR
from opendgm.evaluators.grader.verdict import score as verdict
from opendgm.evaluators.patches import patch_over
from opendgm.evaluators.polyglot_images import cache_dir
from opendgm.evaluators.polyglot_languages import BUILD_DIR, LANGUAGES, REPORT, Language
from opendgm.evaluators.polyglot_reports import Outcomes
from opendgm.evaluators.task import Grade, Task
from opendgm.sandbox import Sandbox

PARTIAL_DIR = ".meta/partial"  # self-written exercises: a solution that passes some tests, by solution path
CLEAN_UP = f"rm -rf {REPO_DIR} {BUILD_DIR} {HIDDEN_DIR}"  # between two runs in one sandbox (expected tests, grade)


@dataclass(frozen=True)
class RunResult:
    """One run of an exercise's tests: what the runner reported, and how the run ended."""

    outcomes: Outcomes
    exit_code: int
    timed_out: bool
    output: str
    notes: tuple[str, ...] = ()


def language_of(task: Task) -> tuple[Language, str]:
    """The task's language and exercise slug, from its `<lang>__<slug>` id."""
    name, slug = task.id.split("__", 1)
    return LANGUAGES[name], slug


def config_files(language: Language, repo_files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The task's own build/test configuration files, which the grader puts back after the agent's diff."""
    return {
        path: data
        for path, data in repo_files.items()
        if any(fnmatch.fnmatch(path, pattern) for pattern in language.config_patterns)
    }


def run_tests(evaluator: Evaluator, task: Task, patch: str, sandbox: Sandbox, then: str = "") -> RunResult | Grade:
    """`patch` applied to a fresh copy, the task's tests (with a canary, `grader.canary`) and configuration put back
    over it, the tests run and their report read: one exec (`run_patched`; the report comes home in its output,
    `grader.readback`). Python's tests run in the trusted harness instead. A Grade when the diff does not apply;
    `then` runs after everything else in the exec."""
    language, slug = language_of(task)
    token = new_token()
    hidden = {**config_files(language, task.repo_files), **with_canary(language.name, task.hidden_tests, token)}
    if language.harness:
        job = harness_job(list(language.harness), task.grading_timeout_s)
        timeout_s = task.grading_timeout_s + MARGIN_S
        files = {HARNESS_DIR: job.files}
        ran = evaluator.run_patched(sandbox, PatchedRun(task, patch, job.command, timeout_s, files, hidden, then=then))
        if isinstance(ran, Grade):
            return ran
        harnessed = job.result(ran)
        return RunResult(
            harnessed.outcomes, harnessed.exit_code, harnessed.timed_out, harnessed.output, tuple(harnessed.notes)
        )
    readback = Readback((REPORT,))
    command = language.test_script(slug, REPORT)
    after = "; ".join(step for step in (readback.command(), then) if step)
    ran = evaluator.run_patched(
        sandbox, PatchedRun(task, patch, command, task.grading_timeout_s, hidden=hidden, then=after)
    )
    if isinstance(ran, Grade):
        return ran
    run, read = readback.read(ran, sandbox)
    raw = read[REPORT]
    outcomes, note = check_canary(language.parse_report(raw or b""), token)  # no report: every test counts as failed
    return RunResult(outcomes, run.exit_code, run.timed_out, run.stdout + run.stderr, (note,) if note else ())


def score(expected: list[str], run: RunResult) -> Grade:
    """The grade from the expected tests and what the runner reported (missing = failed)."""
    return verdict(
        expected, run.outcomes, timed_out=run.timed_out, exit_code=run.exit_code, output=run.output, notes=run.notes
    )


def solution_files(folder: Path, files: Mapping[str, list[str]], sources: list[str]) -> dict[str, str]:
    """{solution path: content} for files in `sources` (the reference's `example` list, or partial files).

    An example file replaces the stub with its name, else the one stub with its extension; an extra helper
    file (Java's `Frame.java` next to `BowlingGame.java`) goes next to the stubs of its extension.
    """
    out = {}
    for source in sources:
        name, suffix = PurePosixPath(source).name, PurePosixPath(source).suffix
        same_suffix = [path for path in files["solution"] if PurePosixPath(path).suffix == suffix]
        same_name = [path for path in same_suffix if PurePosixPath(path).name == name]
        if same_name:
            target = same_name[0]
        elif len(same_suffix) == 1 and not _is_helper(source):
            target = same_suffix[0]
        elif same_suffix:
            target = str(PurePosixPath(same_suffix[0]).parent / name)
        else:
            raise ValueError(f"{folder}: no solution file to put {source} in")
        out[target] = (folder / source).read_text(encoding="utf-8")
    return out


def _is_helper(source: str) -> bool:
    """Java references name their files like the classes they hold: a differently named one is a helper."""
    return "/reference/" in source and PurePosixPath(source).suffix == ".java"


def partial_sources(folder: Path) -> list[str]:
    """The files of a self-written exercise's partial solution (`.meta/partial/<solution path>`)."""
    root = folder / PARTIAL_DIR
    return sorted(str(path.relative_to(folder)) for path in root.rglob("*") if path.is_file())


def partial_files(folder: Path, files: Mapping[str, list[str]]) -> dict[str, str]:
    """{solution path: content} of the partial solution: the reference, with `.meta/partial/<solution path>`
    files in place of some of its files (C++ keeps the reference's header and replaces its source)."""
    reference = solution_files(folder, files, files["example"])
    return reference | {
        source.removeprefix(PARTIAL_DIR + "/"): (folder / source).read_text(encoding="utf-8")
        for source in partial_sources(folder)
    }


def patch_from(folder: Path, new_files: Mapping[str, str]) -> str:
    """A git diff that turns the exercise's files into `new_files` (new paths are added)."""
    existing = {path: (folder / path).read_text(encoding="utf-8") for path in new_files if (folder / path).is_file()}
    return patch_over(existing, new_files)


def grade_exercise(evaluator: Evaluator, task: Task, patch: str, sandbox: Sandbox, expected: ExpectedTests) -> Grade:
    """Collect the expected tests (once per task content), then grade the agent's diff against them."""
    tests = expected_tests(evaluator, task, sandbox, expected)
    if not tests:
        return Grade("grading_error", 0, 0, -1, f"{task.id}: neither the reference nor the stub reported a test")
    run = run_tests(evaluator, task, patch, sandbox)
    return run if isinstance(run, Grade) else score(tests, run)


def expected_tests(evaluator: Evaluator, task: Task, sandbox: Sandbox, cache: ExpectedTests) -> list[str]:
    """The test ids the runner reports on the exercise with its reference solution, or else on the
    unmodified exercise (cached by task content).

    The reference comes first: many stubs do not compile (C++, Go). Some references need more than the
    task's own build files allow (a Rust example using a crate its Cargo.toml does not declare); their
    stubs compile and run every test. Runs in `sandbox` before the agent's diff is applied there, and
    leaves nothing behind.
    """
    reference = evaluator.reference_patch(task) or ""
    cached = cache.get(task, reference)
    if cached is not None:
        return cached
    tests: list[str] = []
    for patch in dict.fromkeys((reference, "")):
        ran = run_tests(evaluator, task, patch, sandbox, then=CLEAN_UP)
        tests = [] if isinstance(ran, Grade) else sorted(ran.outcomes)
        if isinstance(ran, Grade):
            sandbox.exec(CLEAN_UP, timeout=120)  # the exec stopped at the diff, before its own clean-up
        if tests:
            cache.put(task, reference, tests)
            break
    return tests


class ExpectedTests:
    """The expected test ids of each task, collected once per task content and kept on disk."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_dir() / "expected"

    def key(self, task: Task, reference: str) -> str:
        digest = hashlib.sha256()
        language, slug = language_of(task)
        for part in (task.id, task.image, language.test_script(slug), reference):
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
        for path, data in sorted({**task.repo_files, **task.hidden_tests}.items()):
            digest.update(path.encode() + b"\0" + data + b"\0")
        return digest.hexdigest()[:32]

    def get(self, task: Task, reference: str) -> list[str] | None:
        try:
            return list(json.loads((self.folder / f"{self.key(task, reference)}.json").read_text())["tests"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, task: Task, reference: str, tests: list[str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{self.key(task, reference)}.json"
        staging = final.with_suffix(f".{os.getpid()}.tmp")
        staging.write_text(json.dumps({"task": task.id, "tests": tests}))
        staging.replace(final)
