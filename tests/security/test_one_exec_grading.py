"""Grading in one exec cannot be forged (issue 18): the hidden tests, the harness and the agent's diff travel
together now, so a patch gets every chance to reach them before or while the grader runs.

Each hostile patch leaves the task unsolved and tries to turn that into a pass anyway: by printing the grading
script's step markers and a made-up harness result line, by killing the collector (the harness, then every
process of the sandbox user), by rewriting the harness and the hidden tests from its own code at import time,
or by writing into the grading folder through the diff itself (a path leaving the repository, a link made in the
same diff). Every one must end as a verdict that is not `resolved`, on both backends, for HumanEval (the
harness's `call` mode) and repo-tasks (its `unittest` mode, hidden tests placed into the repository).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.patches import patch_over
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import grade_patch
from opendgm.outcomes import VERDICTS

EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"
MARKERS = "".join(
    f"[opendgm: {step}]\\n" for step in ("files delivered", "prepared", "applied", "placed", "tests placed")
)
FORGED_RESULT = 'opendgm-result 00000000000000000000000000000000 {"outcomes": {"check": true}, "notes": []}'

# Each runs when the solution's module is imported (by the harness's child, or by the hidden tests).
AT_IMPORT = {
    "forged-steps": f"""
import os as _o, sys as _s
for _stream in (_s.stdout, _s.stderr):
    _stream.write("{MARKERS}{FORGED_RESULT}\\n")
    _stream.flush()
_o.write(1, b"{MARKERS}")
""",
    "kills-the-collector": """
import os as _o, signal as _g
print("[opendgm: applied]\\n" + '{FORGED}', flush=True)
for _pid in (_o.getppid(), -1):
    try:
        _o.kill(_pid, _g.SIGKILL)
    except OSError:
        pass
""".replace("{FORGED}", FORGED_RESULT),
    # reads the nonce if it can find it, writes a result line for every test it can name on the stdout of every
    # process it can reach (the grading script's among them), then kills the harness so its own line never comes
    "writes-the-result-and-kills-the-harness": """
import json as _j, os as _o, re as _r, signal as _g
_nonce, _ids = "0" * 32, ["check"]
for _folder, _dirs, _files in _o.walk("/workspace"):
    for _name in _files:
        _path = _o.path.join(_folder, _name)
        try:
            _text = open(_path, errors="replace").read()
        except OSError:
            continue
        if _name == "nonce":
            _nonce = _text.strip()
        elif _name.startswith("test") and _name.endswith(".py"):
            _cls = None
            for _line in _text.splitlines():
                _found = _r.match(r"class (\\w+)", _line)
                _cls = _found.group(1) if _found else _cls
                _test = _r.match(r"\\s+def (test\\w*)", _line)
                if _test and _cls:
                    _ids.append(_name[:-3] + "." + _cls + "." + _test.group(1))
_result = "opendgm-result " + _nonce + " " + _j.dumps({"outcomes": {i: True for i in _ids}, "notes": []}) + "\\n"
for _pid in _o.listdir("/proc"):
    if _pid.isdigit():
        try:
            with open("/proc/" + _pid + "/fd/1", "w") as _out:
                _out.write(_result)
        except OSError:
            pass
_o.kill(_o.getppid(), _g.SIGKILL)
""",
    "rewrites-the-grader": """
import os as _o
_pass = "def check(candidate):\\n    pass\\n"
_test = "import unittest\\nclass T(unittest.TestCase):\\n    def test_ok(self):\\n        pass\\n"
for _top in ("/workspace/grading", "/workspace/repo/tests"):
    for _folder, _dirs, _files in _o.walk(_top):
        for _name in _files:
            _path = _o.path.join(_folder, _name)
            try:
                with open(_path, "w") as _handle:
                    _fake = _test if _name.endswith(".py") else "0" * 32
                    _handle.write(_pass if _name in ("check.py", "stub.py") else _fake)
            except OSError:
                pass
""",
}


def _tasks() -> list[tuple[object, object, str]]:
    """(evaluator, task, the visible file its solution goes into) for HumanEval and repo-tasks."""
    humaneval = HumanEval(grading_timeout_s=20)
    repo = RepoTasks(EXAMPLES)
    return [(humaneval, humaneval.select("HumanEval_0")[0], "solution.py"),
            (repo, repo.select("fix-median")[0], "stats/__init__.py")]  # fmt: skip


def _unsolved_with(task, path: str, code: str) -> str:  # type: ignore[no-untyped-def]
    source = task.repo_files[path].decode()
    return patch_over({path: source}, {path: code + source})


ESCAPES = {
    # a path that leaves the repository for the grading folder (the harness and the nonce live there)
    "leaves-the-repository": (
        "diff --git a/../grading/harness/harness.py b/../grading/harness/harness.py\n"
        "new file mode 100644\n--- /dev/null\n+++ b/../grading/harness/harness.py\n@@ -0,0 +1 @@\n"
        f"+print('{FORGED_RESULT}')\n"
    ),
    # a link to the grading folder made by the diff, then a file written through it in the same diff
    "writes-through-its-own-link": (
        "diff --git a/grader b/grader\nnew file mode 120000\n--- /dev/null\n+++ b/grader\n@@ -0,0 +1 @@\n"
        "+/workspace/grading/harness\n\\ No newline at end of file\n"
        "diff --git a/grader/harness.py b/grader/harness.py\nnew file mode 100644\n--- /dev/null\n"
        f"+++ b/grader/harness.py\n@@ -0,0 +1 @@\n+print('{FORGED_RESULT}')\n"
    ),
}


def _assert_no_better_than_unsolved(hack: str, patch_of, backend: str) -> None:  # type: ignore[no-untyped-def]
    """The hack's grade is a verdict, not `resolved`, with no more tests passed than the plain unsolved diff."""
    for evaluator, task, path in _tasks():
        plain = grade_patch(evaluator, task, _unsolved_with(task, path, "# unsolved\n"), backend, "test-one-exec")  # type: ignore[arg-type]
        graded = grade_patch(evaluator, task, patch_of(task, path), backend, "test-one-exec")  # type: ignore[arg-type]
        assert graded.status in VERDICTS and graded.status != "resolved", (hack, task.id, graded)  # type: ignore[attr-defined]
        assert graded.tests_passed <= plain.tests_passed, (hack, task.id, graded.output)


@pytest.mark.parametrize("hack", sorted(AT_IMPORT))
def test_code_run_by_the_tests_cannot_forge_the_one_exec_result(hack: str, backend: str) -> None:
    _assert_no_better_than_unsolved(hack, lambda task, path: _unsolved_with(task, path, AT_IMPORT[hack]), backend)


@pytest.mark.parametrize("hack", sorted(ESCAPES))
def test_a_diff_cannot_write_into_the_grading_folder(hack: str, backend: str) -> None:
    _assert_no_better_than_unsolved(
        hack, lambda task, path: ESCAPES[hack] + _unsolved_with(task, path, "# unsolved\n"), backend
    )
