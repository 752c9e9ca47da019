"""The DGM presets, run with a scripted model to their budget (real sandboxes, archive and git): the archive
follows their rules (entries recorded, the meta-prompts used named, cumulative scores, the seed on every stage,
the third stage for the top two, kept children counted, rejections named) and the baselines behave as defined.

Both presets run as shipped (the dgm-initial agent calling its tools, Docker, the swebench or polyglot evaluator):
SWE-bench on the mini SWE-bench instance, Polyglot on two Python exercises. The baseline run uses the `seed` agent,
whose protocol (bash blocks) the capability script speaks, on HumanEval."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker.errors import ImageNotFound

from opendgm.agents.contract import REPO_DIR
from opendgm.archive import Archive, EvaluatorKey
from opendgm.evaluators.polyglot import selftest_dir
from opendgm.evolve import entries, scoring
from opendgm.evolve.campaign import run_campaign
from opendgm.evolve.config import CampaignConfig
from opendgm.prompts import meta_prompts
from opendgm.sandbox.docker_client import docker_client
from tests.evaluators.test_swebench import FIXTURE, IMAGE, build_image, instance_row
from tests.support.llm_fakes import FakeProvider, Reply, completion
from tests.support.scripted_models import CapabilityScript, say

EXAMPLES = Path(__file__).parents[2] / "examples"
POLYGLOT_FIXTURE = Path(__file__).parents[1] / "fixtures" / "polyglot"
HUMANEVAL_TASKS = "HumanEval_0,HumanEval_2"


def preset(name: str, provider: FakeProvider, **overrides: Any) -> CampaignConfig:
    """The preset with its models scripted and its sizes shrunk; every rule of it kept."""
    raw = yaml.safe_load((EXAMPLES / name).read_text())
    role = {"model": "openai/scripted", "api_base": provider.base_url, "max_tokens": 64, "timeout_s": 10}
    raw["llm"] = {"roles": dict.fromkeys(raw["llm"]["roles"], role), "retry": {"attempts": 1}}
    raw |= {"seed": 1, "generations": 2, "children_per_generation": 2, "workers": 2,
            "sandbox": {"backend": "local", "memory_mb": 1024}, "budget": {}}  # fmt: skip
    raw["self_improve"] |= {"timeout_s": 120, "max_steps": 4, "diagnosis_chars": 20000}
    return CampaignConfig.model_validate(raw | overrides)


@pytest.mark.docker
def test_dgm_swebench_preset_follows_dgms_rules(docker_engine: str, tmp_path: Path) -> None:
    """The preset as it is (dgm-initial, Docker, DGM's rules) on three copies of the mini SWE-bench instance, one
    per stage, for one generation of two children: the seed leaves empty patches everywhere, its children (one
    learning from a failed task, one from DGM's stochasticity entry) solve every stage."""
    rows = [json.loads(line) for line in swebench_dataset(tmp_path).read_text().splitlines()]
    provider = roman_script()
    try:
        options = {"dataset": str(tmp_path / "roman.jsonl"), "agent_timeout_s": 120, "grading_timeout_s": 120}
        stages = [{"subset": row["instance_id"]} | rule for row, rule in zip(rows, DGM_STAGES, strict=True)]
        docker = {"backend": "docker", "memory_mb": 1024}
        config = preset("dgm-swebench.yaml", provider, evaluator={"name": "swebench", "options": options},
                        stages=stages, generations=1, sandbox=docker)  # fmt: skip
        assert (config.seed_agent, config.scoring.score, config.scoring.children, config.self_improve.entry_rule) == (
            "dgm-initial", "cumulative", "kept", "dgm_swebench")  # fmt: skip
        assert run_campaign(config, tmp_path / "c") == "done: 1 generations"
    finally:
        provider.stop()
        with contextlib.suppress(ImageNotFound):
            docker_client().images.remove(IMAGE, force=True)
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed, *children = archive.nodes(kind="agent")
        staged = {node.id: [s.stage for s in archive.scores(node.id)] for node in (seed, *children)}
        assert len(staged[seed.id]) == 3, "the seed is evaluated on every stage, whatever its score"
        assert {r.status for r in archive.results(seed.id)} == {"empty_patch"}
        kept = [child for child in children if child.status == "evaluated"]
        assert kept, [(c.status, c.status_reason) for c in children]
        for child in children:
            entry = child.meta["entry"]
            assert entry["kind"] in entries.KINDS
            named = child.meta["meta_prompts"]
            assert set(named) == {meta_prompts.entry_role(entry["kind"]), "self_improve"}, (entry, named)
            made_by = {e.dst for e in archive.edges(child.id) if e.kind == "produced_by" and e.src == child.id}
            assert made_by == set(named.values()), "the edges name the meta-prompts actually used"
        assert [child.meta["entry"]["kind"] for child in children] == ENTRY_KINDS, "a special entry is diagnosed too"
        view = {r.id: r for r in scoring.rows(archive.summaries(), archive.scores_by_node(), config.scoring,
                                              version(archive))}  # fmt: skip
        best = children[0]
        assert best.status == "evaluated" and len(staged[best.id]) == 3, "top two above 40%: the third stage"
        assert (view[best.id].n_resolved, view[best.id].n_tasks) == (3, 3), "cumulative over 1 + 1 + 1 tasks"
        kept_of_seed = sum(1 for c in children if c.parent_id == seed.id and c.status == "evaluated")
        assert view[seed.id].n_children == kept_of_seed == 2
        bodies = [r["body"] for r in provider.requests]
        diagnoses = [json.dumps(body) for body in bodies if DIAGNOSE in body["messages"][0]["content"]]
        assert len(diagnoses) == 2 and any(HIDDEN_TEST in text for text in diagnoses), "the meta model sees them"
        for node in (seed, *children):
            for result in archive.results(node.id):
                assert result.trajectory_path, result
                assert HIDDEN_TEST not in archive.artifacts.read_text(result.trajectory_path), "never the agent"


DGM_STAGES = [{"threshold": 0.4}, {"threshold": 0.4, "top": 2}, {}]  # the preset's three stage rules
ENTRY_KINDS = ["task", "stochasticity"]  # what seed 1 draws for the two children (deterministic per seed)
DIAGNOSE = "You are improving a coding agent"
HIDDEN_TEST = "test_subtractive"  # the FAIL_TO_PASS test: in the test patch only, never in the agent's copy
SKILL = "ROMAN-SKILL: numbers use subtractive notation."  # what the self-modification adds to the agent's prompt
HINT = "Hint: 4 is written IV."  # in a task's problem statement, the scripted model solves it with any agent
GOLD = (FIXTURE / "gold" / "roman.py").read_text()


def swebench_dataset(folder: Path, hinted: tuple[int, ...] = (), copies: int = 3) -> Path:
    """Copies of the mini instance (ids roman-1..3, one image, built for this test) as a dataset file; the `hinted`
    copies' problem statements carry HINT (a task the scripted model solves even for the seed)."""
    row = instance_row(folder / "testbed")
    build_image(folder / "testbed")
    rows = [
        row | {"instance_id": f"opendgm__roman-{index}"}
        | ({"problem_statement": f"{row['problem_statement']} {HINT}"} if index in hinted else {})
        for index in range(1, copies + 1)
    ]  # fmt: skip
    path = folder / "roman.jsonl"
    path.write_text("".join(json.dumps(copy) + "\n" for copy in rows))
    return path


class SkillScript(FakeProvider):
    """A tool-calling model for dgm-initial: it diagnoses with DGM's five fields; rewriting the agent, it adds SKILL
    to the agent's task prompt; on a task it writes the fix (`fixes`: a word of the task's files, the file to write
    and its text) only when the prompt holds SKILL or the task HINT (the seed's prompt has no SKILL, so without a
    hint the seed ends at once: an empty patch)."""

    def __init__(self, fixes: dict[str, tuple[str, str]], distinct: bool = False) -> None:
        self.fixes = fixes
        self.stamp = " $(date +%s%N)" if distinct else ""  # each child's code its own (results follow the code)
        super().__init__()

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append({"headers": headers, "body": body})
        messages = body["messages"]
        first = str(messages[0]["content"])
        if first.startswith(DIAGNOSE):
            return say(json.dumps({
                "log_summarization": "it ended without a change", "potential_improvements": "know the domain",
                "improvement_proposal": "teach it", "implementation_suggestion": "Edit prompts/instance.md.",
                "problem_description": f"Add the line '{SKILL}' to prompts/instance.md.",
            }))  # fmt: skip
        conversation = "\n".join(str(m.get("content") or "") for m in messages)
        turn = sum(1 for m in messages if m["role"] == "assistant")
        fix = next((fix for word, fix in self.fixes.items() if word in conversation), None)
        if "source code of a coding agent" in conversation:
            line = f"'{SKILL}'{self.stamp}"
            plan = [("bash", {"command": f"cd {REPO_DIR} && printf '\\n%s\\n' {line} >> prompts/instance.md"})]
        elif fix and (SKILL in conversation or HINT in conversation):
            plan = [("editor", {"command": "edit", "path": f"{REPO_DIR}/{fix[0]}", "file_text": fix[1]})]
        else:
            plan = []
        if turn >= len(plan):
            return say("Done.")
        name, arguments = plan[turn]
        answer = completion(None, 50, 10)
        answer["choices"][0]["finish_reason"] = "tool_calls"
        answer["choices"][0]["message"]["tool_calls"] = [
            {"id": f"call_{turn}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
        ]
        return Reply(body=answer)


def roman_script(distinct: bool = False) -> SkillScript:
    """The script for the mini SWE-bench instance: the fix is the gold roman.py."""
    return SkillScript({"roman": ("roman.py", GOLD)}, distinct)


def version(archive: Archive) -> EvaluatorKey:
    result = next(iter(archive.results(archive.nodes(kind="agent")[0].id)))
    return EvaluatorKey(result.evaluator, result.evaluator_version)


class RunnerProbe(CapabilityScript):
    """The capability script, whose self-modifying agent first says whether its own code (at /agent) is the
    improved one (it holds the python-block support the first child adds)."""

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        conversation = "\n".join(m["content"] for m in body["messages"])
        if "source code of a coding agent" in conversation and "RUNNER-" not in conversation:
            return say("```bash\necho RUNNER-$(grep -c 'fence = ' /agent/agent.py)-END; false\n```")
        return super()._next(headers, body)


def test_no_selfimprove_has_the_seed_modify_the_parents_code(tmp_path: Path) -> None:
    provider = RunnerProbe()
    try:
        config = preset("dgm-swebench.yaml", provider, evaluator={"name": "humaneval"}, baseline="no_selfimprove",
                        stages=[{"subset": HUMANEVAL_TASKS}], children_per_generation=1, selector="best",
                        seed_agent="seed")  # fmt: skip
        assert run_campaign(config, tmp_path / "c") == "done: 2 generations"
    finally:
        provider.stop()
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        _seed, first, second = archive.nodes(kind="agent")
        assert first.status == "evaluated" and second.parent_id == first.id, (first.status_reason, second.parent_id)
        work = archive.artifacts.read_text(f"nodes/{second.id}/self_improve.jsonl")
    assert "RUNNER-0-END" in work, "the seed's code ran, not the improved parent's"
    assert "anchor not found" in work, "it worked on the parent's (already improved) code"


EXERCISES = {"square-gap": selftest_dir() / "python", "clock-angle": POLYGLOT_FIXTURE / "python"}


def polyglot_root(folder: Path) -> Path:
    """Two Python exercises in the polyglot-benchmark layout: the shipped self-test's and the test fixture's."""
    for slug, language in EXERCISES.items():
        shutil.copytree(language / "exercises/practice" / slug, folder / "python/exercises/practice" / slug)
    return folder


@pytest.mark.docker
def test_dgm_polyglot_preset_on_python(docker_engine: str, tmp_path: Path) -> None:
    """The preset as it is (dgm-initial calling its tools, Docker, DGM's Polyglot rules) on two Python exercises,
    one per stage, for one generation of one child: the seed leaves empty patches, its child (learning from an empty
    or unresolved task, no special entry) solves both."""
    fixes = {slug.replace("-", "_"): (f"{slug.replace('-', '_')}.py", (language / "exercises/practice" / slug /
             ".meta/example.py").read_text()) for slug, language in EXERCISES.items()}  # fmt: skip
    provider = SkillScript(fixes)
    try:
        options = {"path": str(polyglot_root(tmp_path / "polyglot")), "agent_timeout_s": 120, "grading_timeout_s": 60}
        stages = [{"subset": "python__square-gap", "threshold": 0.4}, {"subset": "python__clock-angle"}]
        config = preset("dgm-polyglot.yaml", provider, evaluator={"name": "polyglot", "options": options},
                        stages=stages, generations=1, children_per_generation=1,
                        sandbox={"backend": "docker", "memory_mb": 1024})  # fmt: skip
        assert (config.seed_agent, config.scoring.score, config.self_improve.entry_rule) == (
            "dgm-initial", "cumulative", "dgm_polyglot")  # fmt: skip
        assert config.self_improve.role == "self_modify"
        assert run_campaign(config, tmp_path / "c") == "done: 1 generations"
    finally:
        provider.stop()
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed, *children = archive.nodes(kind="agent")
        assert len(archive.scores(seed.id)) == 2, "the seed is evaluated on every stage, whatever its score"
        assert {r.status for r in archive.results(seed.id)} == {"empty_patch"}
        assert len(children) == 1 and children[0].status == "evaluated", children
        view = {r.id: r for r in scoring.rows(archive.summaries(), archive.scores_by_node(), config.scoring,
                                              version(archive))}  # fmt: skip
        for child in children:
            entry = child.meta["entry"]
            assert entry["kind"] == "task" and entry["task_id"] in ("python__square-gap", "python__clock-angle")
            assert (view[child.id].n_resolved, view[child.id].n_tasks) == (2, 2), "cumulative over 1 + 1 tasks"
            roles = {call.role for call in archive.ledger.calls(node=child.id) if call.purpose == "self_improve"}
            assert roles == {"self_modify"}, "the self-modification runs on its own model role"
        assert view[seed.id].n_children == 1 and (view[seed.id].n_resolved, view[seed.id].n_tasks) == (0, 2)
