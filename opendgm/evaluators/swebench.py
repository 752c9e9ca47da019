"""SWE-bench, graded by the `swebench` package's own harness pieces (5.x dataset rows).

A 5.x row carries its image, its eval script (which applies the `test_patch` and runs the tests between
the harness's start/end markers) and its log parser's name. Grading here follows the harness: a fresh
container of the instance image, the agent's diff applied, the row's eval script run, the log parsed by
the named parser, and `get_eval_report` deciding: resolved means every FAIL_TO_PASS and PASS_TO_PASS
test passes.

The bridge to the agent contract: SWE-bench images hold the repository at `/testbed`, owned by root,
while an opendgm sandbox runs as an unprivileged user on a read-only image filesystem with a writable
`/workspace`. So `prepare` copies `/testbed` to `/workspace/repo` (history, build artefacts and all)
and commits a snapshot, and grading runs the eval script with `/testbed` replaced by `/workspace/repo`.
`PYTHONPATH` puts the copy ahead of the image's editable install of `/testbed`, so tests import the
patched code.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from opendgm.agents.contract import REPO_DIR
from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.dgm_subsets import dgm_subsets
from opendgm.evaluators.task import Grade, Task
from opendgm.evaluators.task_images import mark_absent_images
from opendgm.sandbox.base import Sandbox, SandboxError
from opendgm.sandbox.spec import DEFAULT_IMAGE

if TYPE_CHECKING:
    from swebench.types import TestSpec  # an optional dependency: imported where used

EVAL_SCRIPT = "/workspace/grading/eval.sh"
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

    def prepare(self, task: Task, sandbox: Sandbox) -> str:
        """Copy the image's repository to the agent's workspace and commit the copy as the starting point."""
        copy = sandbox.exec(
            f"mkdir -p {REPO_DIR} && cp -a --no-preserve=ownership {self.repo_dir}/. {REPO_DIR}/", timeout=1200
        )
        if not copy.ok:
            raise SandboxError(f"could not copy {self.repo_dir} for {task.id}: {copy.stderr.strip()[-500:]}")
        return super().prepare(task, sandbox)

    def grade(self, task: Task, patch: str, sandbox: Sandbox) -> Grade:
        """The harness's grading: the row's eval script on the patched copy, its log read by the row's parser."""
        failed = self.apply_patch(task, patch, sandbox)
        if failed is not None:
            return failed
        spec = self._test_spec(task.id)
        script = spec.eval_script.replace(self.repo_dir, REPO_DIR)
        sandbox.put_files(str(Path(EVAL_SCRIPT).parent), {Path(EVAL_SCRIPT).name: script})
        run = sandbox.exec(
            f"bash {EVAL_SCRIPT} 2>&1", timeout=task.grading_timeout_s, env={"PYTHONPATH": SHADOW_PYTHONPATH}
        )
        if run.timed_out:
            return Grade("grading_timeout", 0, 0, run.exit_code, run.stdout)
        report = harness_report(spec, patch, run.stdout)
        status = report.get("tests_status", {})
        passed = sum(len(status.get(kind, {}).get("success", [])) for kind in ("FAIL_TO_PASS", "PASS_TO_PASS"))
        failed_tests = sum(len(status.get(kind, {}).get("failure", [])) for kind in ("FAIL_TO_PASS", "PASS_TO_PASS"))
        verdict = "resolved" if report["resolved"] else "unresolved"
        return Grade(verdict, passed, failed_tests, run.exit_code, f"{run.stdout}\n{json.dumps(report, indent=1)}")

    @functools.cache  # noqa: B019 - one spec per instance; rows never change for the evaluator's lifetime
    def _test_spec(self, instance_id: str) -> TestSpec:
        from swebench.harness.utils import make_test_spec

        return make_test_spec(self.rows[instance_id])

    def reference_patch(self, task: Task) -> str:
        return self.rows[task.id]["patch"]


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
    with tempfile.NamedTemporaryFile("w", suffix=".log", prefix="opendgm-swebench-") as handle:
        handle.write(log)
        handle.flush()
        return get_eval_report(spec, prediction, handle.name, include_tests_status=True)[spec.instance_id]
