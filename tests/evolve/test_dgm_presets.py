"""The DGM presets, run with a scripted model to their budget (real sandboxes, archive and git): the archive
follows their rules (entries recorded, cumulative scores, the seed on every stage, the third stage for the
top two, kept children counted, rejections named) and the baselines behave as defined.

The scripted model speaks the `seed` agent's protocol (bash blocks), so the runs use `seed_agent: seed`; the
tasks are HumanEval's and the Polyglot self-test's Python exercise instead of the paper's subsets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from opendgm.archive import Archive
from opendgm.evaluators.polyglot import selftest_dir
from opendgm.evolve import entries, scoring
from opendgm.evolve.campaign import Campaign
from opendgm.evolve.config import CampaignConfig
from tests.support.llm_fakes import Reply
from tests.support.scripted_models import CapabilityScript, say

EXAMPLES = Path(__file__).parents[2] / "examples"
STAGES = ["HumanEval_0,HumanEval_2", "HumanEval_3", "HumanEval_4"]


def preset(name: str, provider: CapabilityScript, **overrides: Any) -> CampaignConfig:
    """The preset with its models scripted and its sizes shrunk; every rule of it kept."""
    raw = yaml.safe_load((EXAMPLES / name).read_text())
    role = {"model": "openai/scripted", "api_base": provider.base_url, "max_tokens": 64, "timeout_s": 10}
    raw["llm"] = {"roles": dict.fromkeys(raw["llm"]["roles"], role), "retry": {"attempts": 1}}
    raw |= {"seed_agent": "seed", "seed": 1, "generations": 2, "children_per_generation": 2, "workers": 2,
            "sandbox": {"backend": "local", "memory_mb": 1024}, "budget": {}}  # fmt: skip
    raw["self_improve"] |= {"timeout_s": 120, "max_steps": 4, "diagnosis_chars": 20000}
    return CampaignConfig.model_validate(raw | overrides)


def test_dgm_swebench_preset_follows_dgms_rules(script: CapabilityScript, tmp_path: Path) -> None:
    config = preset("dgm-swebench.yaml", script, evaluator={"name": "humaneval"}, children_per_generation=1)
    stages = [stage.model_copy(update={"subset": subset}) for stage, subset in zip(config.stages, STAGES, strict=True)]
    config = config.model_copy(update={"stages": stages})
    assert (config.scoring.score, config.scoring.children, config.self_improve.entry_rule) == (
        "cumulative", "kept", "dgm_swebench")  # fmt: skip
    assert Campaign(config, tmp_path / "c").run() == "done: 2 generations"
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed, *children = archive.nodes(kind="agent")
        staged = {node.id: [s.stage for s in archive.scores(node.id)] for node in (seed, *children)}
        assert len(staged[seed.id]) == 3, "the seed is evaluated on every stage, whatever its score"
        assert archive.best_score(seed.id) == 0.0
        kept = [child for child in children if child.status == "evaluated"]
        assert kept, [(c.status, c.status_reason) for c in children]
        for child in children:
            assert child.meta["entry"]["kind"] in entries.KINDS
            if child.status == "rejected":
                assert child.meta["rejected_by"] in ("modification", "no_change", "compile", "diagnosis")
        view = {r.id: r for r in scoring.rows(archive.summaries(), archive.scores_by_node(), config.scoring,
                                              *version(archive))}  # fmt: skip
        best = max(kept, key=lambda child: archive.best_score(child.id) or 0.0)
        assert len(staged[best.id]) == 3, "solving stage 2 and ranking in the top two opens the third stage"
        assert (view[best.id].n_resolved, view[best.id].n_tasks) == (4, 4), "cumulative over 2 + 1 + 1 tasks"
        kept_of_seed = sum(1 for c in children if c.parent_id == seed.id and c.status == "evaluated")
        assert view[seed.id].n_children == kept_of_seed


def version(archive: Archive) -> tuple[str, str]:
    result = next(iter(archive.results(archive.nodes(kind="agent")[0].id)))
    return result.evaluator, result.evaluator_version


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
                        stages=[{"subset": STAGES[0]}], children_per_generation=1, selector="best")  # fmt: skip
        assert Campaign(config, tmp_path / "c").run() == "done: 2 generations"
    finally:
        provider.stop()
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        _seed, first, second = archive.nodes(kind="agent")
        assert first.status == "evaluated" and second.parent_id == first.id, (first.status_reason, second.parent_id)
        work = archive.artifacts.read_text(f"nodes/{second.id}/self_improve.jsonl")
    assert "RUNNER-0-END" in work, "the seed's code ran, not the improved parent's"
    assert "anchor not found" in work, "it worked on the parent's (already improved) code"


EXERCISE = "python__square-gap"
SOLUTION = (selftest_dir() / "python/exercises/practice/square-gap/.meta/example.py").read_text()


class PolyglotScript(CapabilityScript):
    """The capability script, whose task model answers the Python exercise with a python block (which only the
    improved agent runs)."""

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        conversation = "\n".join(m["content"] for m in body["messages"])
        last = body["messages"][-1]
        if "square_gap.py" in conversation and "source code of a coding agent" not in conversation:
            if last["role"] == "user" and last["content"].startswith("exit code: 0"):
                return say("Done.\n```bash\nsubmit\n```")
            return say(f"```python\nopen('square_gap.py', 'w').write({SOLUTION!r})\n```")
        return super()._next(headers, body)


def test_dgm_polyglot_preset_on_python(docker_engine: str, tmp_path: Path) -> None:
    provider = PolyglotScript()
    try:
        sizes = {"stages": [{"subset": EXERCISE}], "generations": 1, "children_per_generation": 1}
        selftest = {"name": "polyglot", "options": {"dataset": "selftest"}}
        docker = {"backend": "docker", "memory_mb": 1024}
        config = preset("dgm-polyglot.yaml", provider, evaluator=selftest, sandbox=docker, **sizes)
        assert config.self_improve.entry_rule == "dgm_polyglot" and config.self_improve.role == "self_modify"
        assert Campaign(config, tmp_path / "c").run() == "done: 1 generations"
    finally:
        provider.stop()
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed, child = archive.nodes(kind="agent")
        assert child.status == "evaluated", child.status_reason
        assert (archive.best_score(seed.id), archive.best_score(child.id)) == (0.0, 1.0)
        assert child.meta["entry"] == {"kind": "task", "task_id": EXERCISE, "evidence": []}
        roles = {call.role for call in archive.ledger.calls(node=child.id) if call.purpose == "self_improve"}
        assert roles == {"self_modify"}, "the self-modification runs on its own model role"
