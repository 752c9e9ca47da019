"""An agent campaign graded by the `llm-judge` evaluator under a rubric that MPO evolves between generations.

The scripted task model answers every question with a padded wrong answer. The seed rubric pays for length
and rigour keywords, so the judge resolves those answers, while the tasks' hidden `gold` pattern says they
are wrong. After the first generation the interval closes. The scripted meta-reward model sees inflated
scores for wrong answers and adds a criterion that deducts everything for them. The campaign adopts that
rubric and re-judges the whole archive under it from the stored diffs: the same answers are now unresolved,
and no agent runs again.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

import tests.support.mpo_toy as toy
from opendgm.archive import Archive
from opendgm.cli import app
from opendgm.evolve.campaign import run_campaign
from opendgm.evolve.config import CampaignConfig
from opendgm.usage import UsageMistake
from tests.evolve.test_campaign import config
from tests.support.llm_fakes import Reply, error
from tests.support.scripted_models import CapabilityScript, say

QUESTIONS = {"add-2-3": (2, 3), "add-4-4": (4, 4)}
JUDGE_PROMPT = "Grade one response to a task, using only the rubric below"
MRM_PROMPTS = ("You are the senior grader", "Several senior graders each rewrote the rubric")


class JudgedScript(CapabilityScript):
    """CapabilityScript's self-improvement, plus a task model that pads wrong answers, MPO's toy judge and MRM."""

    def __init__(self) -> None:
        super().__init__()
        self.mrm = toy.ScriptedMRM()
        self.refined_judge_down = False  # the judge fails every grading under the refined rubric

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        messages = body["messages"]
        first, conversation = messages[0]["content"], "\n".join(m["content"] for m in messages)
        if first.startswith(JUDGE_PROMPT):
            if self.refined_judge_down and toy.WRONG_ANSWER_ITEM in first:
                return error(500, "the judge is down")
            return say(toy.judge(messages, 0.0))
        if first.startswith(MRM_PROMPTS):
            return say(self.mrm(messages, 0.0))
        improving = "You are improving a coding agent" in first or "source code of a coding agent" in conversation
        question = next((q for q in QUESTIONS if f"[{q}]" in conversation), None)
        if question and not improving and not messages[-1]["content"].startswith("exit code: 0"):
            a, b = QUESTIONS[question]
            answer = toy.TEMPLATES["wrong_padded"].format(a=a, b=b, right=a + b, wrong=a + b + 1)
            return say(f"```bash\nprintf '%s\\n' '{answer}' > ANSWER.md\n```")
        return super()._next(headers, body)


@pytest.fixture
def judged_script() -> Iterator[JudgedScript]:
    provider = JudgedScript()
    yield provider
    provider.stop()


def judged_config(provider: JudgedScript, tasks: Path, **overrides: object) -> CampaignConfig:
    base = config(provider, "docker")
    role = base.llm.roles["agent"].model_dump()
    fields = base.model_dump() | {
        "llm": base.llm.model_dump() | {"roles": {"agent": role, "meta": role, "judge": role}},
        "evaluator": {"name": "llm-judge", "options": {"path": str(tasks), "rubric": toy.SEED_RUBRIC}},
        "stages": [{"subset": "all"}],
        "mpo": {"interval": 1, "samples": 4, "task": "Answer the arithmetic question correctly."},
    }
    return CampaignConfig.model_validate(fields | overrides)


def write_tasks(path: Path) -> Path:
    rows = [
        {"id": q, "statement": f"[{q}] What is {a} + {b}?", "reference": str(a + b), "gold": rf"\b{a + b}\W*$"}
        for q, (a, b) in QUESTIONS.items()
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_mpo_refines_the_judge_rubric_and_the_archive_is_rejudged(
    judged_script: JudgedScript, docker_engine: str, tmp_path: Path
) -> None:
    cfg = judged_config(judged_script, write_tasks(tmp_path / "tasks.jsonl"))
    assert run_campaign(cfg, tmp_path / "c") == "done: 1 generations"
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed_rubric, refined = archive.nodes(kind="rubric")
        assert (seed_rubric.operator, refined.operator, refined.parent_id) == ("seed", "mpo", seed_rubric.id)
        assert refined.status == "evaluating", refined.status_reason  # the judge's rubric now
        assert toy.WRONG_ANSWER_ITEM in str(refined.content)
        before, after = (f"llm-judge/2+rubric:{rubric.id}" for rubric in (seed_rubric, refined))

        agents = archive.nodes(kind="agent")
        assert [a.status for a in agents] == ["evaluated", "evaluated"], [a.status_reason for a in agents]
        for agent in agents:
            scores = {s.evaluator_version: s.score for s in archive.scores(agent.id)}
            assert scores == {before: 1.0, after: 0.0}, "the padded wrong answers are caught under the new rubric"
            edges = {e.dst for e in archive.edges(agent.id) if e.kind == "scored_under"}
            assert edges == {seed_rubric.id, refined.id}
            old, new = (
                {r.task_id: r for r in archive.results(agent.id, "llm-judge", version)} for version in (before, after)
            )
            assert old.keys() == new.keys() == set(QUESTIONS)
            for task in QUESTIONS:  # re-judged from the stored diff: the agent did not run again
                assert (new[task].patch_path, new[task].trajectory_path) == (
                    old[task].patch_path,
                    old[task].trajectory_path,
                )
                assert old[task].status == "resolved" and new[task].status == "unresolved"

        (interval,) = [e.data for e in archive.events() if e.kind == "mpo_interval"]
        assert (interval["rubric"], interval["n"], interval["gold"]) == (seed_rubric.id, 4, 0.0)
        assert interval["proxy"] >= 9, "the hackable rubric paid for padding"
        judged = [e for e in archive.events() if e.kind == "judged"]
        assert len(judged) == 4, "re-judgements are no policy step"
        assert all(e.data["gold"] == 0.0 and e.data["rubric"] == seed_rubric.id for e in judged)

        calls = archive.ledger.calls()
        judge_calls = {rubric.id: [c for c in calls if c.node == rubric.id and c.purpose.startswith("mpo judge")]
                       for rubric in (seed_rubric, refined)}  # fmt: skip
        assert {rubric: len(found) for rubric, found in judge_calls.items()} == {seed_rubric.id: 4, refined.id: 4}
        assert any(c.node == refined.id and c.purpose == "mpo refine" for c in calls)
        spent = len(calls)

    assert run_campaign(cfg, tmp_path / "c") == "done: 1 generations"
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        assert len(archive.ledger.calls()) == spent, "a finished campaign resumes without a model call"

    tree = " ".join(CliRunner().invoke(app, ["tree", str(tmp_path / "c")]).output.split())  # unwrapped
    assert f"{before} 1:all 1.00 (2/2) · {after} 1:all 0.00 (0/2)" in tree, tree
    shown = CliRunner().invoke(app, ["show", str(tmp_path / "c"), seed_rubric.id])
    assert "judged under this rubric (MPO intervals)" in shown.output and "9.00" in shown.output, shown.output


def test_judge_configuration_problems_are_explained(judged_script: JudgedScript, tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl")
    cfg = judged_config(judged_script, tasks).model_dump()
    no_judge = cfg | {"llm": cfg["llm"] | {"roles": {k: v for k, v in cfg["llm"]["roles"].items() if k != "judge"}}}
    with pytest.raises(ValidationError, match=r"llm.roles needs \['judge'\] for the llm-judge"):
        CampaignConfig.model_validate(no_judge)
    with pytest.raises(ValidationError, match="evaluator 'humaneval' has none"):
        CampaignConfig.model_validate(cfg | {"evaluator": {"name": "humaneval"}})
    with pytest.raises(ValidationError, match="mode `async` has none"):
        CampaignConfig.model_validate(cfg | {"mode": "async", "budget": {"nodes": 2}})
    fixed = CampaignConfig.model_validate(cfg | {"mpo": None})  # no mpo block: the seed rubric, never refined
    assert fixed.judging().refine == "never" and fixed.judging().role == "judge"


def test_evaluate_command_judges_under_an_archive_rubric(
    judged_script: JudgedScript, docker_engine: str, tmp_path: Path
) -> None:
    """`opendgm evaluate -e llm-judge`: the judge role comes from --models, the rubric becomes a node."""
    tasks = write_tasks(tmp_path / "tasks.jsonl")
    role = judged_config(judged_script, tasks).llm.roles["agent"].model_dump(mode="json")
    models = tmp_path / "models.yaml"
    models.write_text(json.dumps({"roles": {"agent": role}}))
    options = ["-o", f"path={tasks}", "-o", f"rubric={toy.SEED_RUBRIC}", "--subset", "all", "--backend", "docker"]
    command = ["evaluate", "seed", "-e", "llm-judge", *options, "--campaign", str(tmp_path / "c")]
    command += ["--models", str(models)]
    refused = CliRunner().invoke(app, command)
    assert isinstance(refused.exception, UsageMistake), refused.output  # `opendgm`: one line, exit 2
    assert "llm-judge needs a `judge` role" in str(refused.exception)

    models.write_text(json.dumps({"roles": {"agent": role, "judge": role}}))
    done = CliRunner().invoke(app, command)
    assert done.exit_code == 0, done.output
    assert "2/2 resolved" in done.output
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        (rubric,) = archive.nodes(kind="rubric")
        assert rubric.content == toy.SEED_RUBRIC
        agent = archive.nodes(kind="agent")[-1]
        (score,) = archive.scores(agent.id)
        assert (score.evaluator_version, score.n_resolved) == (f"llm-judge/2+rubric:{rubric.id}", 2)
        assert {e.dst for e in archive.edges(agent.id) if e.kind == "scored_under"} == {rubric.id}
        assert len([c for c in archive.ledger.calls(node=rubric.id) if c.purpose.startswith("mpo judge")]) == 2


def test_a_judge_that_cannot_answer_stops_the_campaign_and_nothing_is_lost(
    judged_script: JudgedScript, docker_engine: str, tmp_path: Path
) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl")
    good = judged_config(judged_script, tasks, generations=1)
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    roles = good.llm.model_dump()["roles"]
    down = good.model_dump() | {
        "llm": good.llm.model_dump() | {"roles": roles | {"judge": roles["judge"] | {"api_base": dead}}}
    }
    reason = run_campaign(CampaignConfig.model_validate(down), tmp_path / "c")
    assert "could not be completed" in reason and "grading model" in reason, reason
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        (seed,) = archive.nodes(kind="agent")
        assert seed.status == "evaluating" and archive.results(seed.id) == [], "no verdict, no result: retried later"
        failures = [e.data["detail"] for e in archive.events() if e.kind == "task_infrastructure_failure"]
        assert len(failures) == 2 and all("grading model" in detail for detail in failures)
    assert run_campaign(good, tmp_path / "c") == "done: 1 generations"


def test_rejudging_cut_short_resumes_where_it_stopped(
    judged_script: JudgedScript, docker_engine: str, tmp_path: Path
) -> None:
    """The judge fails while the archive is re-judged under the new rubric: the campaign stops before any
    selection on half-judged stages, and the next run re-judges only what is missing."""
    cfg = judged_config(judged_script, write_tasks(tmp_path / "tasks.jsonl"))
    judged_script.refined_judge_down = True
    reason = run_campaign(cfg, tmp_path / "c")
    assert reason.startswith("the judge or meta-reward model could not answer"), reason
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        refined = archive.nodes(kind="rubric")[-1]
        assert (refined.operator, refined.status) == ("mpo", "evaluating")
        after = f"llm-judge/2+rubric:{refined.id}"
        assert not [r for a in archive.nodes(kind="agent") for r in archive.results(a.id, "llm-judge", after)]
        agent_calls = [c for c in archive.ledger.calls() if c.purpose.startswith("agent ")]

    judged_script.refined_judge_down = False
    assert run_campaign(cfg, tmp_path / "c") == "done: 1 generations"
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        for agent in archive.nodes(kind="agent"):
            (score,) = [s for s in archive.scores(agent.id) if s.evaluator_version == after]
            assert (score.n_done, score.n_resolved) == (2, 0)
        assert [c for c in archive.ledger.calls() if c.purpose.startswith("agent ")] == agent_calls, "no agent re-ran"
        assert len([e for e in archive.events() if e.kind == "mpo_interval"]) == 1, "the interval closed once"
