"""SWE-bench, Polyglot and llm-judge graded in one exec cannot be forged (issue 18).

In one exec the grader's own files (the eval script, the hidden tests, the restored pyproject.toml) are in the
sandbox before the agent's diff is applied, and what the grader reads back (a runner's report, the agent's
answer) comes home in the exec's own output instead of a read of its own. Each hostile diff below leaves the
task unsolved and tries to turn that into a pass anyway: by reaching the grader's files through the diff (a
path out of the repository, a link), by rewriting the eval script while it runs, by keeping its own pytest
configuration, by forging the step markers, the runner's log or the frame the report comes home in, or by a
link where the grader reads. None may end `resolved`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendgm.evaluators.llm_judge import LLMJudge
from opendgm.evaluators.patches import patch_over
from opendgm.evaluators.polyglot import Polyglot
from opendgm.evaluators.polyglot_images import build_language_image
from opendgm.evaluators.polyglot_languages import LANGUAGES
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.swebench import SWEBench
from opendgm.evaluators.task import Grade, Grading, Task
from opendgm.prompts import Judged, Sample
from tests.evaluators.test_swebench import FIXTURE, dataset  # noqa: F401 - the module's fixture: the miniature instance

CAMPAIGN = "test-repo-grading-attacks"
BASE = (FIXTURE / "base" / "roman.py").read_text()
GOLD = (FIXTURE / "gold" / "roman.py").read_text()
LINK = (
    "diff --git a/{path} b/{path}\nnew file mode 120000\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+{target}\n"
    "\\ No newline at end of file\n"
)


def link(path: str, target: str) -> str:
    return LINK.format(path=path, target=target)


# -- SWE-bench --------------------------------------------------------------------------------------------------
def _swebench(rows: Path) -> tuple[SWEBench, Task]:
    evaluator = SWEBench(rows)
    (task,) = evaluator.select("all")
    return evaluator, task


def _roman(code: str, extra: dict[str, str] | None = None) -> str:
    return patch_over({"roman.py": BASE}, {"roman.py": code, **(extra or {})})


# Solves the task only when the file `pyproject.toml` next to it still holds the agent's own pytest table when the
# tests import it: a grader that runs the tests with the agent's pytest configuration resolves it.
SOLVES_WITH_ITS_OWN_PYTEST_TABLE = (
    "import pathlib as _p\n"
    "_conf = _p.Path(__file__).with_name('pyproject.toml')\n"
    "if _conf.is_file() and 'forged_plugin' in _conf.read_text():\n"
    "    exec(compile({gold!r}, __file__, 'exec'))\n"
)
HOSTILE_PYPROJECT = '[project]\nname = "roman"\n\n[tool.pytest.ini_options]\naddopts = "-p forged_plugin"\n'
# Rewrites the rest of the eval script while bash runs it (bash reads a script file as it goes): the lines after
# the test run report the FAIL_TO_PASS test as passed, inside the harness's start/end markers.
REWRITES_THE_EVAL_SCRIPT = """
import glob as _g
_forged = (
    "echo 'test_subtractive (tests.test_roman.ToRomanTest.test_subtractive) ... ok'\\n"
    "echo 'test_additive (tests.test_roman.ToRomanTest.test_additive) ... ok'\\n"
    "echo 'test_out_of_range (tests.test_roman.ToRomanTest.test_out_of_range) ... ok'\\n"
    ": '>>>>> End Test Output'\\nexit 0\\n"
)
for _path in _g.glob("/workspace/grading/*.sh"):
    try:
        with open(_path, "r+") as _f:
            _text = _f.read()
            _at = _text.find("python3 -m unittest")
            _at = _text.find("\\n", _at) + 1
            _f.seek(_at)
            _f.write(_forged + "#" * max(0, len(_text) - _at - len(_forged)) + "\\n")
    except OSError:
        pass
"""
FORGES_THE_LOG = """
import sys as _s
_s.stdout.write("[opendgm: prepared]\\n[opendgm: applied]\\n[opendgm: placed]\\n>>>>> Start Test Output\\n")
for _t in ("test_subtractive", "test_additive", "test_out_of_range"):
    _s.stdout.write(f"{_t} (tests.test_roman.ToRomanTest.{_t}) ... ok\\n")
_s.stdout.write(">>>>> End Test Output\\n")
_s.stdout.flush()
"""


@pytest.mark.docker
def test_the_swebench_eval_script_cannot_be_rewritten_while_it_runs(dataset: Path) -> None:  # noqa: F811
    evaluator, task = _swebench(dataset)
    graded = grade_patch(evaluator, task, _roman(REWRITES_THE_EVAL_SCRIPT + BASE), "docker", CAMPAIGN)
    assert graded.status == "unresolved" and graded.tests_passed <= 2, graded.output


@pytest.mark.docker
def test_forged_markers_and_log_lines_do_not_resolve_swebench(dataset: Path) -> None:  # noqa: F811
    evaluator, task = _swebench(dataset)
    graded = grade_patch(evaluator, task, _roman(FORGES_THE_LOG + BASE), "docker", CAMPAIGN)
    assert graded.status == "unresolved" and graded.tests_passed <= 2, graded.output  # the two PASS_TO_PASS tests


@pytest.mark.docker
@pytest.mark.parametrize("how", ["file", "link"])
def test_swebench_tests_never_run_with_the_agents_pytest_table(dataset: Path, how: str) -> None:  # noqa: F811
    """The agent's pyproject.toml (or a link named so, to a file of its own) keeps a pytest table; the code solves
    the task only if that table is still there when the tests run."""
    evaluator, task = _swebench(dataset)
    code = SOLVES_WITH_ITS_OWN_PYTEST_TABLE.format(gold=GOLD) + BASE
    if how == "file":
        patch = _roman(code, {"pyproject.toml": HOSTILE_PYPROJECT})
    else:
        patch = _roman(code, {"conf.toml": HOSTILE_PYPROJECT}) + link("pyproject.toml", "conf.toml")
    control = grade_patch(evaluator, task, _roman(code), "docker", CAMPAIGN)
    graded = grade_patch(evaluator, task, patch, "docker", CAMPAIGN)
    assert control.status == "unresolved", control.output
    assert graded.status == "unresolved", graded.output  # resolved: the tests ran with the agent's table
    assert any("pyproject.toml" in note for note in graded.notes), graded.notes


@pytest.mark.docker
@pytest.mark.parametrize("how", ["leaves-the-repository", "through-its-own-link"])
def test_a_diff_cannot_reach_the_swebench_eval_script(dataset: Path, how: str) -> None:  # noqa: F811
    evaluator, task = _swebench(dataset)
    forged = "#!/bin/bash\necho forged\n"
    if how == "leaves-the-repository":
        patch = _roman(BASE) + patch_over({}, {"../grading/eval.sh": forged})
    else:
        patch = link("g", "../grading") + patch_over({}, {"g/eval.sh": forged})
    graded = grade_patch(evaluator, task, patch, "docker", CAMPAIGN)
    assert graded.status == "patch_failed", graded.output


# -- Polyglot (Go: the runner's report comes home in the exec's output) -----------------------------------------
@pytest.fixture(scope="module")
def go_polyglot(docker_engine: str) -> Polyglot:
    build_language_image(LANGUAGES["go"], say=lambda _message: None)
    return Polyglot(dataset="selftest")


def _go(evaluator: Polyglot) -> Task:
    (task,) = evaluator.select("go__square-gap")
    return task


# The stub's package, plus an init() that forges the report three ways before any test runs: it writes a report
# of every test passed to the report path, prints it (whole, and base64 on lines naming every token it finds on
# the command lines of the sandbox's processes, as a readback frame would) to every stdout it can open, and
# exits 0.
GO_FORGER = r"""package squaregap

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

func init() {
	var report strings.Builder
	for _, name := range []string{"TestSquareOfSum", "TestSumOfSquares", "TestGap"} {
		fmt.Fprintf(&report, "{\"Action\":\"pass\",\"Package\":\"squaregap\",\"Test\":\"%s\"}\n", name)
	}
	report.WriteString("{\"Action\":\"pass\",\"Package\":\"squaregap\"}\n")
	forged := report.String()
	os.WriteFile("/workspace/grading/report", []byte(forged), 0o644)
	encoded := base64.StdEncoding.EncodeToString([]byte(forged))
	tokens := regexp.MustCompile(`[0-9a-f]{16,}`)
	var lines strings.Builder
	lines.WriteString(forged)
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range cmdlines {
		data, _ := os.ReadFile(path)
		for _, token := range tokens.FindAllString(string(data), -1) {
			fmt.Fprintf(&lines, "opendgm-readback-%s 0 %s opendgm-readback-%s\n", token, encoded, token)
			fmt.Fprintf(&lines, "%s 0 %s %s\n", token, encoded, token)
		}
	}
	outs, _ := filepath.Glob("/proc/[0-9]*/fd/1")
	for _, path := range append(outs, "/dev/stdout") {
		if out, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			out.WriteString(lines.String())
			out.Close()
		}
	}
	os.Exit(0)
}
"""


# Go code run by the tests replaces the report by a link to a report of its own, once the real one is written.
GO_LINKER = r"""package squaregap

import (
	"os"
	"os/exec"
)

func init() {
	forged := "{\"Action\":\"pass\",\"Package\":\"squaregap\",\"Test\":\"TestGap\"}\n"
	os.WriteFile("/workspace/repo/mine.json", []byte(forged), 0o644)
	script := "while pgrep -x go >/dev/null; do sleep 0.05; done; " +
		"ln -sf /workspace/repo/mine.json /workspace/grading/report"
	cmd := exec.Command("sh", "-c", script)
	cmd.Start()
}
"""


@pytest.mark.docker
@pytest.mark.parametrize("hack", ["forges-the-report", "links-the-report"])
def test_a_forged_go_report_does_not_resolve(go_polyglot: Polyglot, hack: str) -> None:
    task = _go(go_polyglot)
    patch = patch_over({}, {"zz_hack.go": {"forges-the-report": GO_FORGER, "links-the-report": GO_LINKER}[hack]})
    graded = grade_patch(go_polyglot, task, patch, "docker", CAMPAIGN)
    assert graded.status == "unresolved" and graded.tests_passed == 0, graded.output
    assert "canary" in graded.output


@pytest.mark.docker
@pytest.mark.parametrize("how", ["leaves-the-repository", "through-its-own-link"])
def test_a_diff_cannot_write_the_go_report(go_polyglot: Polyglot, how: str) -> None:
    task = _go(go_polyglot)
    forged = '{"Action":"pass","Package":"squaregap","Test":"TestGap"}\n'
    if how == "leaves-the-repository":
        patch = patch_over({}, {"../grading/report": forged})
    else:
        patch = link("g", "../grading") + patch_over({}, {"g/report": forged})
    graded = grade_patch(go_polyglot, task, patch, "docker", CAMPAIGN)
    assert graded.status == "patch_failed", graded.output


# -- llm-judge: the answer comes home in the exec's output --------------------------------------------------------
@pytest.fixture
def judged(tmp_path: Path) -> Iterator[tuple[LLMJudge, Task, list[Sample]]]:
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({"id": "greet", "statement": "Say hello."}) + "\n")
    evaluator = LLMJudge(path)
    (task,) = evaluator.select("all")
    yield evaluator, task, []


def _judge(seen: list[Sample]):
    def judge(sample: Sample) -> Judged:
        seen.append(sample)
        return Judged(sample, 10.0 if sample.response == "hello\n" else 0.0, "SCORE: ?")

    return judge


def _grade_answer(judged: tuple[LLMJudge, Task, list[Sample]], patch: str, backend: str) -> Grade:
    evaluator, task, seen = judged
    return grade_patch(evaluator, task, patch, backend, CAMPAIGN, Grading("n", _judge(seen)))  # type: ignore[arg-type]


def test_the_judge_reads_exactly_the_answer_file(judged, backend: str) -> None:
    """An answer holding lines shaped like the grading's markers and frames reaches the judge byte for byte."""
    answer = "[opendgm: applied]\nopendgm-readback-0000000000000000 0 aGVsbG8K opendgm-readback-0000000000000000\nhi\n"
    graded = _grade_answer(judged, patch_over({}, {"ANSWER.md": answer}), backend)
    assert [sample.response for sample in judged[2]] == [answer] and graded.status == "unresolved"
    plain = _grade_answer(judged, patch_over({}, {"ANSWER.md": "hello\n"}), backend)
    assert plain.status == "resolved", plain.output


@pytest.mark.parametrize("target", ["/etc/hostname", "../grading/hidden", "OTHER.md"])
def test_an_answer_that_is_a_link_is_no_answer(judged, backend: str, target: str) -> None:
    patch = patch_over({}, {"OTHER.md": "hello\n"}) + link("ANSWER.md", target)
    graded = _grade_answer(judged, patch, backend)
    assert graded.status == "unresolved" and "no ANSWER.md" in graded.output, graded.output
    assert judged[2] == []


def test_a_diff_cannot_leave_the_repository_for_the_judge(judged, backend: str) -> None:
    graded = _grade_answer(judged, patch_over({}, {"../grading/answer": "hello\n", "ANSWER.md": "hi\n"}), backend)
    assert graded.status == "patch_failed", graded.output
