"""All six Polyglot languages on the exercises shipped with opendgm (`-o dataset=selftest`), real Docker.

Each language's toolchain image is built offline the first time (Debian packages, npm for JavaScript's
jest) and reused afterwards. Per language: the reference resolves with every test counted (the skipped
ones un-skipped) even when its patch wrecks the build files, the stub does not, the partial solution is
counted test by test, and an agent that searches its sandbox finds no test or reference file. A
campaign's first stage runs on a mixed-language subset with a scripted model.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opendgm.archive import Archive
from opendgm.evaluators.cli import app as evaluators_app
from opendgm.evaluators.data_cli import app as data_app
from opendgm.evaluators.polyglot import Polyglot, exercise_files
from opendgm.evaluators.polyglot_grading import partial_files, patch_from, solution_files
from opendgm.evaluators.polyglot_images import build_language_image
from opendgm.evaluators.polyglot_languages import LANGUAGES
from opendgm.evaluators.runner import TaskRunner, grade_patch
from opendgm.evolve.campaign import run_campaign
from opendgm.evolve.config import CampaignConfig

pytestmark = pytest.mark.docker

# OPENDGM_POLYGLOT_LANGUAGES narrows the languages whose images this module builds (CI's time budget).
SELECTED = [name for name in os.environ.get("OPENDGM_POLYGLOT_LANGUAGES", ",".join(LANGUAGES)).split(",") if name]
TESTS_PER_EXERCISE = 9  # the self-test exercise's tests, most of them skipped until the grader un-skips them
PARTIAL_PASSES = 6  # the partial solution gets the gap wrong: its three gap tests fail
# The campaign's mixed-language stage: an interpreted, a compiled (answered partially) and a new language.
CAMPAIGN = [name for name in ("python", "rust", "javascript") if name in SELECTED] or SELECTED[:1]


@pytest.fixture(scope="module")
def evaluator(docker_engine: str) -> Polyglot:
    for name in SELECTED:
        build_language_image(LANGUAGES[name], say=lambda _message: None)
    return Polyglot(dataset="selftest")


def task_id(language: str) -> str:
    return f"{language}__square-gap"


def folder_of(evaluator: Polyglot, language: str) -> Path:
    return evaluator.root / language / "exercises" / "practice" / "square-gap"


def config_paths(task_files: dict[str, bytes], language: str) -> list[str]:
    patterns = LANGUAGES[language].config_patterns
    return [path for path in task_files if any(fnmatch.fnmatch(path, pattern) for pattern in patterns)]


@pytest.mark.parametrize("language", SELECTED)
def test_reference_resolves_with_every_test_and_stub_does_not(evaluator: Polyglot, language: str) -> None:
    """The reference counts all nine tests (the skipped ones un-skipped: xtest, @Disabled, #[ignore],
    EXERCISM_RUN_ALL_TESTS), even when the patch also wrecks the build files, which are put back."""
    (task,) = evaluator.select(task_id(language))
    assert task.invalid is None, task.invalid
    folder = folder_of(evaluator, language)
    files = exercise_files(folder)
    solved = solution_files(folder, files, files["example"])
    wrecked = {path: "this is not a build file\n" for path in config_paths(task.repo_files, language)}
    assert wrecked or language == "python", "every compiled language has build files to restore"
    grade = grade_patch(evaluator, task, patch_from(folder, {**solved, **wrecked}), "docker", "test-polyglot")
    assert (grade.status, grade.tests_passed, grade.tests_failed) == ("resolved", TESTS_PER_EXERCISE, 0), grade.output[
        -3000:
    ]
    stub = grade_patch(evaluator, task, "", "docker", "test-polyglot")
    assert (stub.status, stub.tests_passed, stub.tests_failed) == ("unresolved", 0, TESTS_PER_EXERCISE), stub.output[
        -3000:
    ]


@pytest.mark.parametrize("language", SELECTED)
def test_a_partial_solution_is_counted_test_by_test(evaluator: Polyglot, language: str) -> None:
    (task,) = evaluator.select(task_id(language))
    folder = folder_of(evaluator, language)
    partial = partial_files(folder, exercise_files(folder))
    grade = grade_patch(evaluator, task, patch_from(folder, partial), "docker", "test-polyglot")
    passed_failed = (grade.tests_passed, grade.tests_failed)
    assert (grade.status, passed_failed) == ("unresolved", (PARTIAL_PASSES, TESTS_PER_EXERCISE - PARTIAL_PASSES)), (
        grade.output[-3000:]
    )


@pytest.mark.parametrize("language", SELECTED)
def test_the_agent_finds_no_test_or_reference_file(evaluator: Polyglot, language: str, snooping_agent: Path) -> None:
    (task,) = evaluator.select(task_id(language))
    folder = folder_of(evaluator, language)
    files = exercise_files(folder)
    # By name: the tests, and reference files not named like a stub (Java's reference holds `SquareGap.java`
    # as the stub does: its folder, `.meta/`, where the partial solution lives too, must not show up).
    hidden = {Path(path).name for path in [*files["test"], *files["example"]]}
    hidden -= {Path(path).name for path in files["solution"]}
    outcome = TaskRunner(evaluator, snooping_agent, gateway=None, node="snoop", backend="docker").run(task)
    seen = {line.removeprefix("+") for line in outcome.patch.splitlines() if line.startswith("+/")}
    assert "/agent/agent.py" in seen and any(path.startswith("/workspace/repo/") for path in seen), outcome
    assert not {path for path in seen if Path(path).name in hidden or "/.meta/" in path}, sorted(seen)
    assert outcome.status == "unresolved", outcome  # graded with the tests restored: the stub still fails


def test_verify_command_checks_one_language(evaluator: Polyglot) -> None:
    language = "python" if "python" in SELECTED else SELECTED[0]  # the CLI once; the graders per language above
    done = CliRunner().invoke(
        evaluators_app, ["verify", "polyglot", "-o", "dataset=selftest", "--subset", language, "--backend", "docker"]
    )
    assert done.exit_code == 0, done.output
    assert "1/1" in done.output and "0/1" in done.output, done.output


class PolyglotScript:
    """A scripted model that solves the self-test exercise in whatever language the statement names."""

    def __init__(self, evaluator: Polyglot) -> None:
        from tests.support.llm_fakes import FakeProvider, Reply, completion

        self.reply, self.completion = Reply, completion
        self.solutions: dict[str, dict[str, str]] = {}
        for language in SELECTED:
            folder = folder_of(evaluator, language)
            files = exercise_files(folder)
            # Rust gets the partial solution: the campaign records a task that is counted but not resolved.
            reference = solution_files(folder, files, files["example"])
            solved = partial_files(folder, files) if language == "rust" else reference
            self.solutions[", ".join(files["solution"])] = solved
        self.provider = FakeProvider()
        self.provider._next = self._next  # type: ignore[method-assign]

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Any:
        conversation = "\n".join(m["content"] for m in body["messages"])
        if body["messages"][-1]["role"] == "user" and body["messages"][-1]["content"].startswith("exit code: 0"):
            return self.say("Done.\n```bash\nsubmit\n```")
        match = re.search(r"modify the supplied files: (.*)", conversation)
        files = self.solutions.get(match.group(1).strip()) if match else None
        if files is None:
            return self.say("I do not know.")
        writes = "\n".join(
            f"mkdir -p $(dirname {path}) && echo {base64.b64encode(text.encode()).decode()} | base64 -d > {path}"
            for path, text in files.items()
        )
        return self.say(f"```bash\n{writes}\n```")

    def say(self, text: str) -> Any:
        return self.reply(body=self.completion(text, prompt_tokens=50, completion_tokens=10))


def test_a_campaign_runs_its_first_stage_on_a_mixed_language_subset(evaluator: Polyglot, tmp_path: Path) -> None:
    script = PolyglotScript(evaluator)
    try:
        role = {"model": "openai/scripted", "api_base": script.provider.base_url, "max_tokens": 64, "timeout_s": 10}
        config = CampaignConfig.model_validate(
            {
                "name": "polyglot-first-stage",
                "llm": {"roles": {"agent": role, "meta": role}, "retry": {"attempts": 1}},
                "evaluator": {"name": "polyglot", "options": {"dataset": "selftest", "agent_timeout_s": 120}},
                "stages": [{"subset": ",".join(task_id(language) for language in CAMPAIGN)}],
                "sandbox": {"backend": "docker"},
                "workers": 2,
                "budget": {"nodes": 0},
            }
        )
        assert run_campaign(config, tmp_path / "campaign") == "nodes: 0 of 0 children created"
    finally:
        script.provider.stop()
    with Archive.open(tmp_path / "campaign", readonly=True) as archive:
        (seed,) = archive.nodes(kind="agent")
        results = {r.task_id: r for r in archive.results(seed.id)}
    assert set(results) == {task_id(language) for language in CAMPAIGN}, results
    for language in CAMPAIGN:
        result = results[task_id(language)]
        want = ("unresolved", PARTIAL_PASSES) if language == "rust" else ("resolved", TESTS_PER_EXERCISE)
        assert (result.status, result.tests_passed) == want, (language, result)
        assert result.tests_passed + result.tests_failed == TESTS_PER_EXERCISE, (language, result)


def test_the_images_command_builds_all_six_or_says_they_are_up_to_date(evaluator: Polyglot) -> None:
    done = CliRunner().invoke(data_app, ["images", "polyglot", "--all"])
    assert done.exit_code == 0, done.output
    assert all(LANGUAGES[name].image in done.output for name in LANGUAGES), done.output
    refused = CliRunner().invoke(data_app, ["images", "polyglot", "-l", "cobol"])
    assert refused.exit_code != 0 and "unknown language 'cobol'" in refused.output


@pytest.mark.skipif("rust" not in SELECTED, reason="needs the Rust image")
def test_expected_tests_come_from_the_stub_when_the_reference_cannot_build(evaluator: Polyglot, tmp_path: Path) -> None:
    """Like the benchmark's grep, whose example uses a crate its restored Cargo.toml does not declare."""
    root = tmp_path / "polyglot"
    shutil.copytree(evaluator.root / "rust", root / "rust")
    example = folder_of(evaluator, "rust").relative_to(evaluator.root) / ".meta" / "example.rs"
    (root / example).write_text("use thiserror::Error;\n" + (root / example).read_text())
    other = Polyglot(root)
    (task,) = other.select(task_id("rust"))
    reference = grade_patch(other, task, other.reference_patch(task), "docker", "test-polyglot")
    assert (reference.status, reference.tests_passed, reference.tests_failed) == ("unresolved", 0, 9), reference
    assert "thiserror" in reference.output
