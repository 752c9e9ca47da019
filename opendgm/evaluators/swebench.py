"""SWE-bench, graded by the `swebench` package's own harness pieces (5.x dataset rows).

A 5.x row carries its image, its eval script (which applies the `test_patch` and runs the tests between
the harness's start/end markers) and its log parser's name. Grading here follows the harness: a fresh
container of the instance image, the agent's diff applied, the row's eval script run, the log parsed by
the named parser, and `get_eval_report` deciding: resolved means every FAIL_TO_PASS and PASS_TO_PASS
test passes.

Two things the harness trusts are closed here (invariant 8: scores cannot be forged). The log is printed by
the same processes that import the solution, which can print a line of its own for every test; so a canary
test that must fail, named from a token drawn for this grading, is added to the run (`grader.canary`): a log
that reports it passed or leaves it out is forged, and every test fails. And pytest reads its configuration
from pyproject.toml too, so that file's pytest tables are put back as the instance has them
(`grader.pytest_config`; pytest.ini, tox.ini and setup.cfg are protected files).

The bridge to the agent contract: SWE-bench images hold the repository at `/testbed`, owned by root,
while an opendgm sandbox runs as an unprivileged user on a read-only image filesystem with a writable
`/workspace`. So `prepare` copies `/testbed` to `/workspace/repo` (history, build artefacts and all)
and commits a snapshot, and grading runs the eval script with `/testbed` replaced by `/workspace/repo`.
`PYTHONPATH` puts the copy ahead of the image's editable install of `/testbed`, so tests import the
patched code.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from opendgm.agents import REPO_DIR
from opendgm.evaluators.base import Evaluator, PatchedRun
from opendgm.evaluators.dgm_subsets import dgm_subsets
from opendgm.evaluators.grader.canary import check_canary, new_token, python_canary
from opendgm.evaluators.grader.pytest_config import restore_pytest_tables
from opendgm.evaluators.patches import split_by_file
from opendgm.evaluators.task import NO_GRADING, Grade, Grading, Task
from opendgm.evaluators.task_images import mark_absent_images
from opendgm.outcomes import Verdict
from opendgm.sandbox import DEFAULT_IMAGE, Sandbox, SandboxError

if TYPE_CHECKING:
    from swebench.types import TestSpec  # an optional dependency: imported where used

EVAL_SCRIPT = "/workspace/grading/eval.sh"
PYPROJECT = "pyproject.toml"
TESTBED = "/testbed"
SHADOW_PYTHONPATH = f"{REPO_DIR}:{REPO_DIR}/src"
ROW_FIELDS = ("image", "eval_script", "log_parser", "eval_type", "FAIL_TO_PASS", "PASS_TO_PASS", "problem_statement")
IMAGE_HELP = (
    "SWE-bench images cannot be built offline (they need Docker Hub, GitHub and conda). Where a registry "
    "answers: `docker pull {image}`; or build it with swebench's image_builder from a task repository"
)


class SWEBench(Evaluator):
    """SWE-bench instances from a local `.json`/`.jsonl`/`.parquet` dataset file (or a hub name when online)."""

    name = "swebench"
    grades_by_exit_code = False
    # Test-runner configuration stays as the instance has it (conftest.py is dropped as an import hook).
    protected_patterns = ("pytest.ini", "tox.ini", "setup.cfg", ".coveragerc")
    prepare_timeout_s = 1320  # the copy of a large repository, then its commit

    def __init__(
        self,
        dataset: str | Path,
        split: str = "test",
        repo_dir: str = TESTBED,
        agent_timeout_s: float = 3600,
        grading_timeout_s: float = 1800,
    ) -> None:
        try:
            import swebench
            from swebench.harness.utils import load_swebench_dataset
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError("the swebench evaluator needs `pip install 'opendgm[swebench]'`") from exc
        self.version = f"swebench-{swebench.__version__}/opendgm-1"
        self.rows = {row["instance_id"]: dict(row) for row in load_swebench_dataset(str(dataset), split)}
        self.repo_dir = repo_dir
        self.agent_timeout_s, self.grading_timeout_s = float(agent_timeout_s), float(grading_timeout_s)
        self._pyprojects: dict[str, str | None] = {}  # each instance's own pyproject.toml, read when first needed

    def tasks(self) -> list[Task]:
        tasks = [self._task(row) for row in self.rows.values()]
        return mark_absent_images(tasks, lambda image: IMAGE_HELP.format(image=image))

    def subsets(self) -> dict[str, list[str]]:
        return {**dgm_subsets("swe_bench", set(self.rows)), "all": list(self.rows)}

    def _task(self, row: dict) -> Task:
        return Task(
            id=row["instance_id"],
            statement=row.get("problem_statement") or "",
            image=row.get("image") or DEFAULT_IMAGE,
            agent_timeout_s=self.agent_timeout_s,
            grading_timeout_s=self.grading_timeout_s,
            invalid=row_problem(row),
        )

    def prepare_command(self, task: Task) -> str:
        """Copy the image's repository to the agent's workspace and commit the copy as the starting point."""
        copy = f"mkdir -p {REPO_DIR} && cp -a --no-preserve=ownership {shlex.quote(self.repo_dir)}/. {REPO_DIR}/"
        return f"{copy} && {super().prepare_command(task)}"

    def grade(self, task: Task, patch: str, sandbox: Sandbox, grading: Grading = NO_GRADING) -> Grade:
        """The harness's grading: the row's eval script on the patched copy, its log read by the row's parser;
        one exec (`run_patched`), the instance's pytest tables put back into pyproject.toml in it."""
        spec = self._test_spec(task.id)
        token = new_token()
        plain = spec.eval_script.replace(self.repo_dir, REPO_DIR)
        canaried = with_canary(plain, self.rows[task.id], token)
        restore = self._restore(task, patch, sandbox)
        command = f"{restore.command}bash {EVAL_SCRIPT} 2>&1"
        script = {Path(EVAL_SCRIPT).name: parsed_whole(canaried or plain)}
        files = {str(Path(EVAL_SCRIPT).parent): script}
        env = {"PYTHONPATH": SHADOW_PYTHONPATH}
        # the eval script's log is all it reads (pyproject.toml was read before): the sandbox's last command
        patched = PatchedRun(
            task, patch, command, task.grading_timeout_s, files=files, hidden=restore.files, env=env, last=True
        )
        run = self.run_patched(sandbox, patched)
        if isinstance(run, Grade):
            return run
        if run.timed_out:
            return Grade("grading_timeout", 0, 0, run.exit_code, run.stdout)
        expected = len(spec.FAIL_TO_PASS) + len(spec.PASS_TO_PASS)
        forged = canary_note(spec, run.stdout, token) if canaried else None
        notes = tuple(note for note in (restore.why, forged) if note)
        if forged:
            return Grade("unresolved", 0, expected, run.exit_code, f"{run.stdout}\n[opendgm] {forged}", notes)
        report = harness_report(spec, patch, run.stdout)
        status = report.get("tests_status", {})
        passed = sum(len(status.get(kind, {}).get("success", [])) for kind in ("FAIL_TO_PASS", "PASS_TO_PASS"))
        failed_tests = sum(len(status.get(kind, {}).get("failure", [])) for kind in ("FAIL_TO_PASS", "PASS_TO_PASS"))
        verdict: Verdict = "resolved" if report["resolved"] else "unresolved"
        output = f"{run.stdout}\n{json.dumps(report, indent=1)}"
        return Grade(verdict, passed, failed_tests, run.exit_code, output, notes)

    def _restore(self, task: Task, patch: str, sandbox: Sandbox) -> Restore:
        """How pyproject.toml is put back in the grading exec, when the diff touches it: worked out here from the
        instance's own file (read once per instance) and the diff, so nothing runs between apply and tests."""
        if not touches_pyproject(patch):
            return Restore()
        if task.id not in self._pyprojects:
            try:
                original = sandbox.get_file(f"{self.repo_dir}/{PYPROJECT}").decode(errors="replace")
            except SandboxError:
                original = None
            self._pyprojects[task.id] = original
        return restore_pyproject(self._pyprojects[task.id], self._applicable(patch))

    @functools.cache  # noqa: B019 - one spec per instance; rows never change for the evaluator's lifetime
    def _test_spec(self, instance_id: str) -> TestSpec:
        from swebench.harness.utils import make_test_spec

        return make_test_spec(self.rows[instance_id])

    def reference_patch(self, task: Task) -> str:
        return self.rows[task.id]["patch"]

    def diagnosis_tests(self, task: Task) -> str:
        """The instance's test patch (what DGM's diagnosis model reads), for the host side only."""
        return str(self.rows[task.id].get("test_patch") or "")


def with_canary(script: str, row: dict, token: str) -> str | None:
    """The eval script with the canary (`grader.canary`) appended to the first Python test file that the
    test patch leaves, once the test patch is applied (just before the tests run); None where there is no
    such file or no start marker (the log is then read as the harness reads it)."""
    from swebench.harness.constants import START_TEST_OUTPUT

    tests = sorted(
        new
        for _old, new, section in split_by_file(str(row.get("test_patch") or ""))
        if new.endswith(".py") and "\ndeleted file mode" not in section.split("\n@@", 1)[0]
    )
    lines = script.splitlines(keepends=True)
    start = next((index for index, line in enumerate(lines) if START_TEST_OUTPUT in line), None)
    if not tests or start is None:
        return None
    target = shlex.quote(f"{REPO_DIR}/{tests[0]}")
    append = f"cat >> {target} <<'EOF_opendgm_canary'\n{python_canary(token)}EOF_opendgm_canary\n"
    return "".join(lines[:start]) + append + "".join(lines[start:])


def canary_note(spec: TestSpec, log: str, token: str) -> str | None:
    """Why the log is forged (the canary passed or is missing), or None when the canary failed."""
    from swebench.harness.constants import TestStatus
    from swebench.harness.grading import get_logs_eval

    with _log_file(log) as path:
        parsed, _found = get_logs_eval(spec, path)
    passed = (TestStatus.PASSED.value, TestStatus.XFAIL.value)
    return check_canary({test: status in passed for test, status in parsed.items()}, token)[1]


@dataclass(frozen=True)
class Restore:
    """pyproject.toml as grading puts it back once the diff is in: `files` placed after the diff (with the hidden
    files), `command` in front of the eval script (removing it), `why` when it differs from the agent's."""

    files: dict[str, bytes] = field(default_factory=dict)
    command: str = ""
    why: str | None = None


def touches_pyproject(patch: str) -> bool:
    return any(PYPROJECT in (old, new) for old, new, _section in split_by_file(patch))


def restore_pyproject(original: str | None, patch: str) -> Restore:
    """The instance's pytest tables put back into pyproject.toml as `patch` leaves it (`grader.pytest_config`).
    The file graded with is always this one, worked out on the host: a pyproject.toml the diff does not leave
    as a text file of its own (a link, a rename from another file) is put back whole."""
    patched = patched_file(original, patch, PYPROJECT)
    text: str | None
    why: str | None
    if patched is NOT_TEXT:
        text, why = original, f"{PYPROJECT}: put back as the task has it (the diff does not leave it a text file)"
    else:
        text, why = restore_pytest_tables(original, cast(str | None, patched))
    if text is None:
        return Restore(command=f"rm -f -- {PYPROJECT}; ", why=why)
    return Restore({PYPROJECT: text.encode()}, why=why)


NOT_TEXT = object()  # `patched_file`: the diff leaves no regular text file there, or its sections need other files
_HOST_GIT = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "PATH": os.environ.get("PATH", "")}


def patched_file(original: str | None, patch: str, path: str) -> str | object | None:
    """`path` as `patch` leaves it when it held `original` (None: absent), by `git apply` of the patch's sections
    for it on the host, the tool the sandbox applies the whole diff with; None when the diff removes it."""
    sections = "".join(section for old, new, section in split_by_file(patch) if path in (old, new))
    with tempfile.TemporaryDirectory(prefix="opendgm-patched-") as folder:
        target = Path(folder, path)
        if original is not None:
            target.write_text(original)
        applied = subprocess.run(
            ["git", "apply", "--whitespace=nowarn", "-"],
            cwd=folder, input=sections.encode("utf-8", "surrogateescape"), capture_output=True, check=False,
            env={**_HOST_GIT, "GIT_CEILING_DIRECTORIES": str(Path(folder).parent)},
        )  # fmt: skip
        if applied.returncode != 0 or target.is_symlink() or (target.exists() and not target.is_file()):
            return NOT_TEXT
        return target.read_bytes().decode(errors="replace") if target.exists() else None


def parsed_whole(script: str) -> str:
    """The eval script as one brace group: bash reads a script file as it runs it, so code run by the tests
    could rewrite the lines after the test run (invariant 8: scores cannot be forged); a group is read to its
    end before it runs."""
    return f"{{\n{script.rstrip(chr(10))}\n}}\n"


def row_problem(row: dict) -> str | None:
    """Why a dataset row cannot be graded here, or None when it can."""
    from swebench.harness.log_parsers import PARSER_REGISTRY

    missing = [field for field in ROW_FIELDS if not row.get(field)]
    if missing:
        return (
            f"dataset row lacks {', '.join(missing)}: the swebench 5.x dataset format (with image, eval_script, "
            "log_parser, eval_type) is needed"
        )
    if row["log_parser"] not in PARSER_REGISTRY:
        return f"log parser {row['log_parser']!r} is not in this swebench version's PARSER_REGISTRY"
    return None


def harness_report(spec: TestSpec, patch: str, log: str) -> dict:
    """swebench's own per-instance report (`resolved`, `tests_status`, ...) for a test log."""
    from swebench.harness.grading import get_eval_report

    prediction = {"instance_id": spec.instance_id, "model_name_or_path": "opendgm", "model_patch": patch}
    with _log_file(log) as path:
        return get_eval_report(spec, prediction, path, include_tests_status=True)[spec.instance_id]


@contextlib.contextmanager
def _log_file(log: str) -> Iterator[str]:
    """The test log in a file, where swebench's readers want it."""
    with tempfile.NamedTemporaryFile("w", suffix=".log", prefix="opendgm-swebench-") as handle:
        handle.write(log)
        handle.flush()
        yield handle.name
