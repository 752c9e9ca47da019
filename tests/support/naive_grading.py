"""The grading of today's main before issue 12, kept only for tests: it proves each red-team hack can
fool a grader that trusts the runner, so the checks that the real graders resist it can fail.

Naive means: the whole patch applied (no protected files, no dropped hooks), the hidden tests added, the
task's test command run in the repository with the repository first on the import path, and resolved
when it exits 0 (SWE-bench: when the harness's log parser says so).
"""

from __future__ import annotations

from pathlib import Path

from opendgm.agents.contract import REPO_DIR
from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.humaneval import HIDDEN_TEST, HumanEval
from opendgm.evaluators.polyglot import Polyglot
from opendgm.evaluators.polyglot_grading import config_files, language_of
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import grading_spec
from opendgm.evaluators.task import Grade, Task
from opendgm.sandbox.base import Sandbox
from opendgm.sandbox.factory import BackendName, open_sandbox

HUMANEVAL_RUNNER = """\
import runpy

namespace = runpy.run_path("solution.py")
exec(compile({test!r}, "hidden_test.py", "exec"), namespace)
namespace["check"](namespace[{entry_point!r}])
print("hidden test passed")
"""
PATCH = "/workspace/grading/agent.patch"


def naive_grade_patch(evaluator: Evaluator, task: Task, patch: str, backend: BackendName, campaign: str) -> Grade:
    """`grade_patch` as it was: same signature, so the red-team suite can run against it."""
    with open_sandbox(grading_spec(task, campaign), backend) as sandbox:
        evaluator.prepare(task, sandbox)
        if patch.strip():
            sandbox.put_files(str(Path(PATCH).parent), {Path(PATCH).name: patch})
            applied = sandbox.exec(f"cd {REPO_DIR} && git apply --whitespace=nowarn {PATCH}", timeout=120)
            if not applied.ok:
                return Grade("patch_failed", 0, 0, applied.exit_code, applied.stderr)
        if type(evaluator).__name__ == "SWEBench":
            return _swebench(evaluator, task, patch, sandbox)
        files, command = _test_run(evaluator, task)
        sandbox.put_files(REPO_DIR, files)
        run = sandbox.exec(f"cd {REPO_DIR} && {command}", timeout=task.grading_timeout_s)
        status = "resolved" if run.exit_code == 0 and not run.timed_out else "unresolved"
        return Grade(status, 0, 0, run.exit_code, run.stdout + run.stderr)


def _test_run(evaluator: Evaluator, task: Task) -> tuple[dict[str, bytes], str]:
    if isinstance(evaluator, HumanEval):
        entry = evaluator._problems()[task.id.replace("_", "/")]["entry_point"]
        runner = HUMANEVAL_RUNNER.format(test=task.hidden_tests[HIDDEN_TEST].decode(), entry_point=entry)
        return {"test_solution.py": runner.encode()}, "python3 test_solution.py"
    if isinstance(evaluator, RepoTasks):
        return dict(task.hidden_tests), "python3 -m unittest discover -s tests -v"
    if isinstance(evaluator, Polyglot):
        language, slug = language_of(task)
        files = {**config_files(language, task.repo_files), **task.hidden_tests}
        if language.harness:
            return files, "python3 -m unittest discover -v -b -p '*_test.py'"
        return files, language.test_script(slug)
    raise TypeError(f"no naive grading for {evaluator.name}")


def _swebench(evaluator: Evaluator, task: Task, patch: str, sandbox: Sandbox) -> Grade:
    from opendgm.evaluators.swebench import EVAL_SCRIPT, SHADOW_PYTHONPATH, harness_report

    spec = evaluator._test_spec(task.id)  # type: ignore[attr-defined]
    script = spec.eval_script.replace(evaluator.repo_dir, REPO_DIR)  # type: ignore[attr-defined]
    sandbox.put_files(str(Path(EVAL_SCRIPT).parent), {Path(EVAL_SCRIPT).name: script})
    run = sandbox.exec(
        f"bash {EVAL_SCRIPT} 2>&1", timeout=task.grading_timeout_s, env={"PYTHONPATH": SHADOW_PYTHONPATH}
    )
    report = harness_report(spec, patch, run.stdout)
    return Grade("resolved" if report["resolved"] else "unresolved", 0, 0, run.exit_code, run.stdout)
