"""The diagnosis prompt, built for real stored failures of a real campaign (real sandbox, archive, git):
DGM's evidence parts are all there, the code is shown in whole files only, the prompt stays within
`self_improve.diagnosis_chars` and uses it; the hidden tests reach the meta model, never the agent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from opendgm.archive import Archive
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evolve.campaign import run_campaign
from opendgm.evolve.config import CampaignConfig
from opendgm.evolve.entries import Entry
from opendgm.evolve.self_improve import diagnose
from tests.support.llm_fakes import Reply
from tests.support.scripted_models import DIAGNOSIS, CapabilityScript, say

TASKS = "HumanEval_0,HumanEval_2"
BUDGET = 9000
HEADINGS = (
    "# The agent's design", "# The agent's code", "# How this version came about", "# The task",
    "Trajectory (model replies", "The agent's patch:", "The hidden tests the grader added", "Tests that failed:",
    "Grading output:", '"log_summarization"', '"potential_improvements"', '"improvement_proposal"',
    '"implementation_suggestion"', '"problem_description"',
)  # fmt: skip
# The hidden test's own line: a string no agent-visible file holds (the repository has only the stub).
HIDDEN_MARK = "def check(candidate)"
# The seed's model runs this in the task's sandbox: every file the agent can reach that names the hidden tests.
# Its output lies between two markers the command computes (so the command's own text never matches).
SNOOP = (
    "echo SNOOP-$((1+1)); grep -rls --exclude=trajectory.jsonl 'def check(candidate)' "
    "/workspace /agent /tmp /home /run /opt /srv 2>/dev/null; "
    "find / -xdev -name 'test_solution.py' 2>/dev/null; grep -i -e hidden -e grading /proc/mounts; "
    "echo DONE-$((2+3)); false"
)
FOUND = re.compile(r"SNOOP-2(.*?)DONE-5", re.S)


class DGMAnswers(CapabilityScript):
    """The capability script answering diagnoses with DGM's five fields, and snooping during tasks."""

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        messages = body["messages"]
        conversation = "\n".join(m["content"] for m in messages)
        if "You are improving a coding agent" in messages[0]["content"]:
            with self._lock:
                self.requests.append({"headers": headers, "body": body})
            statement = '"Make parse_action accept ```python blocks by running their code with python3."'
            return say(
                '{"log_summarization": "it wrote python blocks", "potential_improvements": "run them", '
                '"improvement_proposal": "run python blocks", "implementation_suggestion": "Change parse_action in '
                f'agent.py.", "problem_description": {statement}}}'
            )
        if "Complete the function" in conversation and "DONE-5" not in conversation:
            return say(f"```bash\n{SNOOP}\n```")
        return super()._next(headers, body)


@pytest.fixture
def dgm_script() -> Any:
    provider = DGMAnswers()
    yield provider
    provider.stop()


def diagnoses(provider: DGMAnswers) -> list[str]:
    return ["\n".join(m["content"] for m in r["body"]["messages"]) for r in provider.requests
            if "You are improving a coding agent" in r["body"]["messages"][0]["content"]]  # fmt: skip


def test_diagnosis_carries_dgms_evidence_within_its_budget(dgm_script: DGMAnswers, tmp_path: Path) -> None:
    role = {"model": "openai/scripted", "api_base": dgm_script.base_url, "max_tokens": 64, "timeout_s": 10}
    config = CampaignConfig.model_validate({
        "name": "evidence", "seed": 1, "llm": {"roles": {"agent": role, "meta": role}, "retry": {"attempts": 1}},
        "stages": [{"subset": TASKS}], "generations": 2, "children_per_generation": 1, "workers": 2,
        "sandbox": {"backend": "local"}, "selector": "best",
        "self_improve": {"timeout_s": 120, "max_steps": 5, "diagnosis_chars": BUDGET},
    })  # fmt: skip
    run_campaign(config, tmp_path / "c")
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed, child, *_ = archive.nodes(kind="agent")
        assert child.status == "evaluated", child.status_reason
        statement = child.meta["problem_statement"]
        assert "Change parse_action in agent.py." in statement and "accept ```python blocks" in statement
        assert child.meta["entry"]["kind"] == "task"
        code = {node.id: archive.code(node.id).files() for node in (seed, child)}
        results = {r.task_id: r for r in archive.results(seed.id)}
        trajectories = {task: archive.artifacts.read_text(r.trajectory_path) for task, r in results.items()}
    first, second = diagnoses(dgm_script)[:2]  # the seed's failure, then the child's (with a lineage)
    for prompt, files in ((first, code[seed.id]), (second, code[child.id])):
        assert all(heading in prompt for heading in HEADINGS), [h for h in HEADINGS if h not in prompt]
        assert len(prompt) <= BUDGET, len(prompt)
        assert HIDDEN_MARK in prompt, "the meta model sees the hidden tests"
        shown = re.findall(r"^## (\S+)\n(.*?)(?=\n\n## |\n\n\(left out|\n\n# How this version)", prompt, re.M | re.S)
        assert shown and all(files[path].decode() == text for path, text in shown), "whole files only"
        left_out = re.search(r"\(left out for length, whole: (.*)\)", prompt)
        assert left_out and set(left_out.group(1).split(", ")) | {p for p, _ in shown} == set(files)
        assert "prompts/system.md" in dict(shown), "the agent's prompt files are kept"
    assert "(none: this is the seed agent)" in first
    # The budget is used: with room for everything, every file and the whole trajectory are shown.
    roomy = rediagnose(tmp_path / "c", seed.id, 200_000)
    assert "(left out for length" not in roomy and len(roomy) > len(first)
    assert all(f"## {path}\n{data.decode()}" in roomy for path, data in code[seed.id].items())
    assert trajectories["HumanEval_0"] in roomy
    assert f"### change made by {child.id}" in second and "python3 - <<'PY'" in second
    assert "What happened (outcome: empty_patch" in first and "(no test ran on this attempt" in first
    # The agent's side of the same tasks: it looked everywhere it can, and found no hidden test, file or mount.
    for trajectory in trajectories.values():
        found = FOUND.search(trajectory)
        assert found and found.group(1).strip("\\n ") == "", found
    assert HIDDEN_MARK in HumanEval().select("HumanEval_0")[0].hidden_tests["test_solution.py"].decode()


class Capture:
    """Stands in for the router of a direct diagnosis: keeps the request, answers like the script."""

    def complete(self, role: str, messages: list[dict[str, str]], **_: object) -> Any:
        self.prompt = "\n".join(m["content"] for m in messages)
        return type("Answer", (), {"text": '{"implementation_suggestion": "x", "problem_description": "y"}'})()


def rediagnose(root: Path, parent: str, budget: int) -> str:
    """The diagnosis prompt of the parent's stored failure on HumanEval_0, built again with another budget."""
    capture = Capture()
    with Archive.open(root) as archive:
        meta_prompt = next(n.content for n in archive.nodes(kind="meta_prompt") if n.meta["role"] == "diagnosis")
        entry = Entry("task", "HumanEval_0")
        diagnose(archive, capture, "probe", parent, str(meta_prompt), HumanEval(), entry, budget)  # type: ignore[arg-type]
    return capture.prompt


def test_the_old_single_field_answer_still_works() -> None:
    from opendgm.evolve.self_improve import problem_statement

    assert problem_statement(DIAGNOSIS).startswith("Make parse_action accept")
