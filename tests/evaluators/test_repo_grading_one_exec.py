"""SWE-bench, Polyglot and llm-judge grade in one sandbox exec (issue 18), with the verdicts they had.

What used to happen between the steps is folded into the one script: SWE-bench's pyproject.toml is worked out on
the host and placed with the hidden files; the files a grader reads back (Polyglot's report, llm-judge's answer)
come home in the exec's own output (`grader.readback`). Execs are counted by wrapping `Sandbox.exec`, reads by
wrapping the backends' archive reads (a read of Docker's tmpfs workspace is an exec of its own).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opendgm.evaluators.base import PatchedRun
from opendgm.evaluators.grader.readback import Readback
from opendgm.evaluators.humaneval import unified_diff
from opendgm.evaluators.llm_judge import LLMJudge
from opendgm.evaluators.patches import patch_over
from opendgm.evaluators.polyglot import Polyglot
from opendgm.evaluators.polyglot_grading import ExpectedTests
from opendgm.evaluators.polyglot_images import build_language_image
from opendgm.evaluators.polyglot_languages import LANGUAGES
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.swebench import NOT_TEXT, SWEBench, patched_file
from opendgm.evaluators.task import Grading, Task
from opendgm.prompts import Judged, Sample
from opendgm.sandbox import Limits, SandboxSpec, open_sandbox
from opendgm.sandbox.base import ExecResult, Sandbox
from tests.evaluators.test_grading import MEDIAN_FIX
from tests.evaluators.test_swebench import FIXTURE, dataset  # noqa: F401 - the module's fixture: the miniature instance

CAMPAIGN = "test-repo-one-exec"
EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"


class Counting:
    """Counts the execs and the reads of every sandbox while it is active."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.execs = self.reads = 0
        from opendgm.sandbox.docker_backend import DockerSandbox
        from opendgm.sandbox.local_backend import LocalSandbox

        for cls in (DockerSandbox, LocalSandbox):
            for name in ("exec", "get_archive", "stream_archive"):
                monkeypatch.setattr(cls, name, self._counted(getattr(cls, name), name))

    def _counted(self, original, name: str):  # type: ignore[no-untyped-def]
        def counted(sandbox: Sandbox, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            if name == "exec":
                self.execs += 1
            else:
                self.reads += 1
            return original(sandbox, *args, **kwargs)

        return counted


@pytest.mark.docker
def test_swebench_grades_in_one_exec_as_before(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    evaluator = SWEBench(dataset)
    (task,) = evaluator.select("all")
    gold = evaluator.reference_patch(task)
    base, fixed = (FIXTURE / "base" / "roman.py").read_text(), (FIXTURE / "gold" / "roman.py").read_text()
    wrong = unified_diff("roman.py", base, fixed.replace("0 < number <", "0 <= number <"))
    pyproject = gold + patch_over({}, {"pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-x"\n'})
    counting = Counting(monkeypatch)
    graded = [grade_patch(evaluator, task, patch, "docker", CAMPAIGN) for patch in (gold, "", wrong, pyproject)]
    assert (counting.execs, counting.reads) == (4, 1)  # one exec each; the instance's pyproject.toml read once
    again = grade_patch(evaluator, task, pyproject, "docker", CAMPAIGN)
    assert (counting.execs, counting.reads) == (5, 1)
    summary = [(grade.status, grade.tests_passed, grade.tests_failed) for grade in [*graded, again]]
    assert summary == [("resolved", 3, 0), ("unresolved", 2, 1), ("unresolved", 2, 1), *[("resolved", 3, 0)] * 2]
    assert "[opendgm: " not in graded[0].output and any("[tool.pytest]" in note for note in again.notes)


def test_pyproject_as_the_diff_leaves_it_is_worked_out_on_the_host() -> None:
    original = '[project]\nname = "a"\n'
    changed = patch_over({"pyproject.toml": original}, {"pyproject.toml": original + "[tool.x]\ny = 1\n"})
    assert patched_file(original, changed, "pyproject.toml") == original + "[tool.x]\ny = 1\n"
    assert patched_file(None, patch_over({}, {"pyproject.toml": "[a]\n"}), "pyproject.toml") == "[a]\n"
    removed = "diff --git a/pyproject.toml b/pyproject.toml\ndeleted file mode 100644\n"
    removed += "--- a/pyproject.toml\n+++ /dev/null\n"
    removed += '@@ -1,2 +0,0 @@\n-[project]\n-name = "a"\n'
    assert patched_file(original, removed, "pyproject.toml") is None
    link = (
        "diff --git a/pyproject.toml b/pyproject.toml\nnew file mode 120000\n--- /dev/null\n+++ b/pyproject.toml\n"
        "@@ -0,0 +1 @@\n+conf.toml\n\\ No newline at end of file\n"
    )
    assert patched_file(None, link, "pyproject.toml") is NOT_TEXT
    renamed = "diff --git a/conf.toml b/pyproject.toml\nsimilarity index 100%\n"
    renamed += "rename from conf.toml\nrename to pyproject.toml\n"
    assert patched_file(None, renamed, "pyproject.toml") is NOT_TEXT  # its content comes from a file not here


@pytest.mark.parametrize("language", ["python", "go"])
def test_polyglot_grades_in_one_exec_as_before(
    language: str, backend: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if language == "go" and backend == "local":
        pytest.skip("Go grades in its toolchain image")
    if language == "go":
        build_language_image(LANGUAGES["go"], say=lambda _message: None)
    evaluator = Polyglot(dataset="selftest")
    evaluator.expected = ExpectedTests(tmp_path)
    (task,) = evaluator.select(f"{language}__square-gap")
    reference = evaluator.reference_patch(task)
    counting = Counting(monkeypatch)
    first = grade_patch(evaluator, task, reference, backend, CAMPAIGN)  # type: ignore[arg-type]
    assert (counting.execs, counting.reads) == (2, 0)  # the expected tests (on the reference), then the grade
    graded = [grade_patch(evaluator, task, patch, backend, CAMPAIGN) for patch in (reference, "")]  # type: ignore[arg-type]
    assert (counting.execs, counting.reads) == (4, 0)
    summary = [(grade.status, grade.tests_passed, grade.tests_failed) for grade in [first, *graded]]
    assert summary == [("resolved", 9, 0), ("resolved", 9, 0), ("unresolved", 0, 9)], [g.output for g in graded]
    assert "opendgm-readback" not in graded[0].output


def _judge(sample: Sample) -> Judged:
    return Judged(sample, 9.0 if sample.response == "hello\n" else 2.0, "SCORE: 9")


def test_llm_judge_grades_in_one_exec(backend: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "tasks.jsonl").write_text(json.dumps({"id": "greet", "statement": "Say hello."}) + "\n")
    evaluator = LLMJudge(tmp_path / "tasks.jsonl")
    (task,) = evaluator.select("all")
    counting = Counting(monkeypatch)
    graded = [
        grade_patch(evaluator, task, patch, backend, CAMPAIGN, Grading("n", _judge))  # type: ignore[arg-type]
        for patch in (patch_over({}, {"ANSWER.md": "hello\n"}), patch_over({}, {"OTHER.md": "x\n"}), "")
    ]
    assert (counting.execs, counting.reads) == (3, 0)
    assert [grade.status for grade in graded] == ["resolved", "unresolved", "unresolved"]
    assert "no ANSWER.md" in graded[1].output and "no ANSWER.md" in graded[2].output


def test_a_file_whose_line_is_cut_at_the_output_cap_is_read_from_the_sandbox(backend: str) -> None:
    spec = SandboxSpec(campaign=CAMPAIGN, workspace_volume=False, limits=Limits(output_bytes=3000))
    readback = Readback(("/workspace/big", "/workspace/small", "/workspace/none"))
    with open_sandbox(spec, backend) as sandbox:  # type: ignore[arg-type]
        make = "head -c 4000 /dev/zero | tr '\\0' x > big && printf 'ok\\n' > small"
        ran = sandbox.exec(f"cd /workspace && {make} && echo out && {readback.command()}")
        assert ran.truncated
        run, files = readback.read(ran, sandbox)
    assert files == {"/workspace/big": b"x" * 4000, "/workspace/small": b"ok\n", "/workspace/none": None}
    assert run.stdout.startswith("out\n")


def test_readback_lines_are_taken_off_the_output_and_the_last_one_counts(backend: str) -> None:
    readback = Readback(("/workspace/a", "/workspace/link", "/workspace/folder"))
    with open_sandbox(SandboxSpec(campaign=CAMPAIGN), backend) as sandbox:  # type: ignore[arg-type]
        made = "cd /workspace && printf 'A\\n' > a && ln -s a link && mkdir folder && printf 'before'"
        ran = sandbox.exec(f"{made} && {readback.command()} && printf 'after\\n'")
        run, files = readback.read(ran, sandbox)
        twice = readback.read(ExecResult(0, ran.stdout + ran.stdout.replace("QQo=", "Qgo="), "", False, 1.0), sandbox)
    assert files == {"/workspace/a": b"A\n", "/workspace/link": None, "/workspace/folder": None}
    assert run.stdout == "beforeafter\n"
    assert twice[1]["/workspace/a"] == b"B\n"


def test_an_old_plugin_still_gets_what_runs_after_its_command(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    class OldPlugin(RepoTasks):  # a class per test: the warning comes once per class
        def prepare(self, task: Task, sandbox: Sandbox) -> str:
            return super().prepare(task, sandbox)

    old = OldPlugin(EXAMPLES)
    (median,) = old.select("fix-median")
    spec = SandboxSpec(campaign=CAMPAIGN)
    with open_sandbox(spec, backend) as sandbox, pytest.warns(DeprecationWarning, match="overrides prepare"):  # type: ignore[arg-type]
        ran = old.run_patched(sandbox, PatchedRun(median, MEDIAN_FIX, "exit 3", 30, then="echo then-ran"))
    assert isinstance(ran, ExecResult) and (ran.exit_code, ran.stdout) == (3, "then-ran\n")
