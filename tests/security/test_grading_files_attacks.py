"""Red team of what cheap grading relies on (issue 18): the harness's bytecode and a repository without history.

HumanEval grades on a plain folder (no git init, add or commit: `Evaluator.grading_prepare_command`) with the
diff applied by `git apply`, and starts the harness from a .pyc the host ships beside harness.py. Each attack
is an unsolved diff that tries to come out of grading as `resolved`, graded for real on both backends:

- the diff writes the harness's files (the problem's check, harness.py, harness.pyc) through a link it
  creates, through `../`, as a binary diff, or puts a `.git` folder (hooks, config) into the folder;
- the solution's own code rewrites harness.py and harness.pyc while it is graded (`call` and `unittest`).

A test here failing is a forgery that works.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import marshal
import os
import subprocess
from pathlib import Path

import pytest

from opendgm.evaluators.grader.channel import HARNESS, LAUNCHER, harness_bytecode, harness_source
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.patches import patch_over
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import grade_patch
from opendgm.outcomes import VERDICTS
from opendgm.sandbox.factory import BackendName

EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"
CAMPAIGN = "test-grading-files"
HARNESS_FOLDER = "/workspace/grading/harness"
PASSING_CHECK = "def check(candidate):\n    pass\n"


def _forged_harness() -> str:
    """The real harness, but every `call` check passes (it would sign that with the run's nonce)."""
    source = harness_source().decode()
    forged = source.replace('namespace["check"](candidate)\n', "pass\n")
    assert forged != source
    return forged


def _git_diff(tmp_path: Path, before: dict[str, bytes], after: dict[str, bytes], binary: bool) -> str:
    """The diff git itself writes from `before` to `after` (a binary diff when `binary`)."""
    repo = tmp_path / "made"
    git = ["git", "-C", str(repo), "-c", "user.name=x", "-c", "user.email=x@x"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for files in (before, after):
        for name, data in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes(data)
        if binary:
            (repo / ".gitattributes").write_text("* binary\n")
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    shown = ["show", "--format=", "--binary", "--full-index", "HEAD", "--", *after]
    return subprocess.run([*git, *shown], capture_output=True, text=True, check=True).stdout


def _link(name: str, target: str) -> str:
    """A diff hunk that creates the link `name` -> `target`."""
    return (
        f"diff --git a/{name} b/{name}\nnew file mode 120000\n--- /dev/null\n+++ b/{name}\n"
        f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n"
    )


def _harness_files(task_check: bytes) -> dict[str, tuple[bytes, bytes]]:
    """What the diff rewrites among the harness's files: name -> (as the host put it, forged)."""
    forged_pyc = harness_bytecode()[:16] + marshal.dumps(compile(_forged_harness(), HARNESS, "exec"))
    return {
        "check.py": (task_check, PASSING_CHECK.encode()),
        "harness.py": (harness_source(), _forged_harness().encode()),
        "harness.pyc": (harness_bytecode(), forged_pyc),
    }


WAYS = ("through-link", "parent-path", "binary-through-link", "binary-parent-path")


def _attack_diff(tmp_path: Path, way: str, name: str, before: bytes, after: bytes) -> str:
    diff = _git_diff(tmp_path, {f"x/{name}": before}, {f"x/{name}": after}, binary=way.startswith("binary"))
    if way.endswith("through-link"):
        return _link("lnk", HARNESS_FOLDER) + diff.replace(" a/x/", " a/lnk/").replace(" b/x/", " b/lnk/")
    return diff.replace(" a/x/", " a/../grading/harness/").replace(" b/x/", " b/../grading/harness/")


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", ["check.py", "harness.py", "harness.pyc"])
def test_a_diff_cannot_rewrite_the_harness_files(way: str, name: str, backend: BackendName, tmp_path: Path) -> None:
    evaluator = HumanEval(grading_timeout_s=20)
    task = evaluator.select("HumanEval_0")[0]
    before, after = _harness_files(task.hidden_tests["test_solution.py"])[name]
    patch = _attack_diff(tmp_path, way, name, before, after)
    graded = grade_patch(evaluator, task, patch, backend, CAMPAIGN)
    assert graded.status in VERDICTS and graded.status != "resolved", (way, name, graded.status, graded.output)
    assert graded.tests_passed == 0, (way, name, graded.output)


@pytest.mark.parametrize("name", [".git/hooks/post-applypatch", ".git/config", "sub/.git/config"])
def test_a_diff_cannot_put_git_metadata_into_a_folder_without_history(name: str, backend: BackendName) -> None:
    evaluator = HumanEval(grading_timeout_s=20)
    task = evaluator.select("HumanEval_0")[0]
    config = "[core]\n\tfsmonitor = touch /workspace/forged\n[alias]\n\tapply = !touch /workspace/forged\n"
    patch = patch_over({}, {name: config}) + (evaluator.reference_patch(task) or "")
    graded = grade_patch(evaluator, task, patch, backend, CAMPAIGN)
    assert graded.status == "patch_failed", (name, graded.status, graded.output)
    assert "invalid path" in graded.output


REWRITES_THE_HARNESS = f"""
import os as _os
for _name, _data in {{"harness.py": {_forged_harness().encode()!r}, "harness.pyc": b"bad"}}.items():
    try:
        _path = _os.path.join({HARNESS_FOLDER!r}, _name)
        _os.chmod(_path, 0o644)
        with open(_path, "wb") as _handle:
            _handle.write(_data)
    except OSError as _exc:
        print("could not rewrite", _name, _exc)
"""


def test_a_solution_rewriting_the_harness_while_graded_changes_nothing(backend: BackendName) -> None:
    """`call`: the harness's process was loaded before the solution's code ran, and nothing reads its files again."""
    evaluator = HumanEval(grading_timeout_s=20)
    task = evaluator.select("HumanEval_0")[0]
    source = task.repo_files["solution.py"].decode()
    patch = patch_over({"solution.py": source}, {"solution.py": REWRITES_THE_HARNESS + source})
    graded = grade_patch(evaluator, task, patch, backend, CAMPAIGN)
    assert graded.status == "unresolved" and graded.tests_passed == 0, graded.output


def test_a_tested_module_rewriting_the_harness_changes_nothing(backend: BackendName) -> None:
    """`unittest`: the test process was started (and the guard's copy of the harness read) before it imports
    the solution."""
    evaluator = RepoTasks(EXAMPLES)
    task = evaluator.select("fix-median")[0]
    path = "stats/__init__.py"
    source = task.repo_files[path].decode()
    patch = patch_over({path: source}, {path: REWRITES_THE_HARNESS + source})
    graded = grade_patch(evaluator, task, patch, backend, CAMPAIGN)
    assert graded.status == "unresolved", graded.output


def test_the_harness_runs_from_its_source_where_the_bytecode_is_not_this_interpreters(tmp_path: Path) -> None:
    """The launcher reads the .pyc only when its magic number is the interpreter's; else it compiles the source."""
    folder = tmp_path / "h"
    folder.mkdir()
    (folder / "harness.py").write_text("import sys\nprint('from source', __file__, sys.argv[1:])\n")
    (folder / "harness.pyc").write_bytes(
        b"\0\0\0\0" + bytes(12) + marshal.dumps(compile("print('bytecode')", "h", "exec"))
    )
    launcher = LAUNCHER.replace(repr(HARNESS), repr(str(folder / "harness.py")))
    ran = subprocess.run(["python3", "-I", "-S", "-c", launcher, "a"], capture_output=True, text=True, check=True)
    assert ran.stdout == f"from source {folder / 'harness.py'} ['a']\n"


def _harness_namespace() -> dict:
    namespace: dict = {"__name__": "harness", "__file__": HARNESS}
    exec(marshal.loads(harness_bytecode()[16:]), namespace)
    return namespace


def test_the_harness_signs_as_the_host_checks() -> None:
    namespace = _harness_namespace()
    for key_size in (0, 32, 64, 65, 200):
        for message in (b"", b"x", os.urandom(3000)):
            key = os.urandom(key_size)
            expected = hmac.new(key, message, hashlib.sha256).hexdigest()
            assert namespace["hmac_sha256"](key, message) == expected


def test_the_harness_reads_and_writes_json_as_json_does() -> None:
    """The harness's codec (json's C core, without json's import) writes what the host's json reads, and reads
    the solution's answers as json would: text that is not one JSON value is refused, not half read."""
    namespace = _harness_namespace()
    dumps, loads = namespace["json_dumps"], namespace["json_loads"]
    values = [None, True, -(2**70), 1.5, float("inf"), 'é\u2028\x00"\\', [1, [2, {"a": [None]}]], {"x": {"y": []}}]
    for value in values:
        assert json.loads(dumps(value)) == value
        assert loads(json.dumps(value)) == value
    assert loads(b' {"value": [3]}\n') == {"value": [3]}
    for junk in ["", " ", "[1,", "{} x", "nul", "1 2", '"\\ud800', "[" * 100_000, '{"a":1}{}']:
        with pytest.raises((ValueError, RecursionError)):
            loads(junk)
    with pytest.raises(TypeError):
        dumps(object())


HUNTS_THE_NONCE_IN_ITS_MEMORY = """
import glob as _g, hashlib as _h, hmac as _m, json as _j, os as _o, re as _r, signal as _s

_found = set()
with open("/proc/self/maps") as _maps, open("/proc/self/mem", "rb", 0) as _mem:
    for _line in _maps:
        _range, _mode = _line.split()[:2]
        if not _mode.startswith("rw"):
            continue
        _lo, _hi = (int(_part, 16) for _part in _range.split("-"))
        try:
            _mem.seek(_lo)
            _found.update(_r.findall(rb"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", _mem.read(_hi - _lo)))
        except (OSError, ValueError, OverflowError):
            pass
_body = _j.dumps({"outcomes": {"check": True}, "notes": [], "timed_out": False})
_lines = "".join(
    f"opendgm-result {_m.new(_k, _body.encode(), _h.sha256).hexdigest()} {_body}\\n" for _k in list(_found)[:20000]
)
_targets = []
for _path in _g.glob("/proc/[0-9]*/fd/[12]"):
    try:
        _targets.append(open(_path, "w"))
    except OSError:
        pass
print("candidates", len(_found), "targets", len(_targets))
for _out in _targets:
    try:
        _out.write(_lines)
        _out.flush()
    except OSError:
        pass
try:
    _o.kill(_o.getppid(), _s.SIGKILL)  # the harness's own line would come last
except OSError:
    pass
"""


def test_the_solutions_process_never_holds_the_nonce(backend: BackendName) -> None:
    """`call`'s solution process is the harness forked before the nonce is read: a solution that signs a passing
    result with every nonce-like string in its own memory, writes it to every stdout it can open and kills the
    harness is not resolved."""
    evaluator = HumanEval(grading_timeout_s=20)
    task = evaluator.select("HumanEval_0")[0]
    source = task.repo_files["solution.py"].decode()
    patch = patch_over({"solution.py": source}, {"solution.py": HUNTS_THE_NONCE_IN_ITS_MEMORY + source})
    graded = grade_patch(evaluator, task, patch, backend, CAMPAIGN)
    assert graded.status != "resolved" and graded.tests_passed == 0, graded.output
