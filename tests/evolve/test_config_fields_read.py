"""Every field of the campaign config reaches the code: a real campaign (Docker, scripted model) runs with
every model of the config watched, and each field must be read by it; the few fields of other modes name
the test that shows their behaviour. `sandbox.memory_mb` is checked by what the agent sees: its
container's memory limit."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from opendgm.archive import Archive
from opendgm.evolve.campaign import run_campaign
from opendgm.evolve.config import CampaignConfig
from tests.support.llm_fakes import Reply
from tests.support.scripted_models import CapabilityScript, say

TESTS = Path(__file__).parents[1]
MEMORY_MB = 777
# The agent prints its container's memory limit between markers its command computes.
PROBE = (
    "echo MEM-$((6*7))-$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
    "-END; false"
)  # cgroup v2, else v1
# Fields this campaign cannot read (another mode, evaluator or operator): the test showing what each does.
ELSEWHERE = {
    "CampaignConfig.hgm_alpha": "evolve/test_campaign.py::test_async_mode_expands_and_evaluates_task_by_task",
    "CampaignConfig.mode": "evolve/test_campaign.py::test_async_mode_expands_and_evaluates_task_by_task",
    "CampaignConfig.mpo": "evolve/test_judged_campaign.py",
    "CampaignConfig.local_server": "llm/test_local_model.py",
    "CampaignConfig.tracking": "evolve/test_campaign_tracking.py",
    "CampaignConfig.pe2": "evolve/test_prompt_operators.py",
    "PE2Options.*": "evolve/test_prompt_operators.py",
    "MetaPromptOptions.hyper_mutation": "prompts/test_prompt_campaign.py::test_pe2_meta_prompt_evolves_inside_a_prompt_"
    "campaign",
    "CampaignConfig.baseline": "evolve/test_dgm_presets.py::test_no_selfimprove_has_the_seed_modify_the_parents_code",
    "MPOOptions.*": "evolve/test_judged_campaign.py::test_mpo_refines_the_judge_rubric_and_the_archive_is_rejudged",
    "LocalServerConfig.*": "llm/test_local_server.py",
    "TrackingConfig.*": "evolve/test_campaign_tracking.py::test_a_campaign_reports_to_mlflow_through_the_observer_seam",
    "ReplayConfig.path": "llm/test_replay.py::test_a_recorded_exchange_replays_identically_with_the_server_stopped",
    # Read on a retry only (the scripted model never fails):
    "RetryPolicy.attempts": "llm/test_router_errors.py::test_server_errors_past_the_retry_bound_fail_clearly",
    "RetryPolicy.retry_after_max_s": "llm/test_deadlines.py::test_a_long_retry_after_is_bounded_by_the_policy",
    # HGM's asynchronous rules and the simulator's landscape (fidelity-hgm's branch):
    "CampaignConfig.hgm": "evolve/test_hgm_preset.py::test_hgm_swebench_preset_follows_hgms_rules",
    "HGMConfig.*": "evolve/test_hgm_preset.py::test_hgm_swebench_preset_follows_hgms_rules",
    "HGMConfig.eval_random_level": "evolve/test_simulated_presets.py::test_hgm_evaluates_a_random_unseen_task_or_the_"
    "next_in_pool_order",
    "CampaignConfig.simulation": "evolve/test_simulate.py",
    "SimulationConfig.*": "evolve/test_simulate.py",
    "Draw.*": "evolve/test_simulate.py",
    # Each chance is read only when its entry's condition holds; their rates are checked on 10,000 draws:
    "Chances.*": "evolve/test_entries.py::test_swebench_rule_gives_dgms_rates_when_every_condition_holds",
    # Read only when the campaign runs on a Ray cluster:
    "ExecutorConfig.*": "cluster/test_ray_campaign.py::test_generations_give_the_same_archive_on_the_cluster",
}


def models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """The config model and every model nested in its fields (through optionals, lists and dicts)."""
    found: list[type[BaseModel]] = []

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in found:
            found.append(annotation)
            for field in annotation.model_fields.values():
                walk(field.annotation)
        for arg in typing.get_args(annotation):
            walk(arg)

    walk(root)
    return found


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """`Model.field` names read while the test runs (attribute reads; a sub-model's model_dump reads all)."""
    seen: set[str] = set()
    for model in models(CampaignConfig):

        def get(self: BaseModel, name: str, model: type[BaseModel] = model) -> Any:
            if name in model.model_fields:
                seen.add(f"{model.__name__}.{name}")
            return object.__getattribute__(self, name)

        monkeypatch.setattr(model, "__getattribute__", get)
        if model is not CampaignConfig:  # the campaign's copy of its config on disk reads nothing for the code
            original = model.model_dump

            def dump(self: BaseModel, *args: Any, model: type[BaseModel] = model, original: Any = original,
                     **kwargs: Any) -> Any:  # fmt: skip
                seen.update(f"{model.__name__}.{name}" for name in model.model_fields)
                return original(self, *args, **kwargs)

            monkeypatch.setattr(model, "model_dump", dump)
    yield seen


class MemoryProbe(CapabilityScript):
    """The capability script, whose task model first looks at the container's memory limit."""

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        conversation = "\n".join(m["content"] for m in body["messages"])
        if "Complete the function" in conversation and "MEM-42" not in conversation:
            return say(f"```bash\n{PROBE}\n```")
        return super()._next(headers, body)


def test_every_config_field_reaches_the_code(docker_engine: str, reads: set[str], tmp_path: Path) -> None:
    provider = MemoryProbe()
    try:
        role = {"model": "openai/scripted", "api_base": provider.base_url, "max_tokens": 64, "timeout_s": 10,
                "price": {"prompt": 1.0, "completion": 2.0}}  # fmt: skip
        config = CampaignConfig.model_validate({
            "name": "fields", "seed": 1, "seed_agent": "seed",
            "llm": {"roles": {"agent": role, "meta": role}, "retry": {"attempts": 1}, "budget": {"usd": 5}},
            "evaluator": {"name": "humaneval", "options": {}},
            "stages": [{"subset": "HumanEval_0", "threshold": 0.4, "top": 2}],
            "selector": "score_child_prop", "generations": 1, "children_per_generation": 1, "workers": 2,
            "scoring": {"score": "cumulative", "children": "kept", "seed_every_stage": True},
            "archive_rule": "keep_better", "keep_better_margin": 0.1,
            "sandbox": {"backend": "docker", "memory_mb": MEMORY_MB},
            "budget": {"nodes": 5, "task_evaluations": 100, "wall_time_s": 900},
            "self_improve": {"timeout_s": 120, "max_steps": 5, "entry_rule": "dgm_swebench", "diagnosis_chars": 20000},
        })  # fmt: skip
        run_campaign(config, tmp_path / "c")
    finally:
        provider.stop()
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed = archive.nodes(kind="agent")[0]
        trajectory = archive.artifacts.read_text(archive.results(seed.id)[0].trajectory_path)
    limit = re.search(r"MEM-42-(\d+)-END", trajectory)
    assert limit and int(limit.group(1)) == MEMORY_MB * 1024 * 1024, trajectory[-1500:]
    everything = {f"{model.__name__}.{name}" for model in models(CampaignConfig) for name in model.model_fields}
    explanation = {f: ELSEWHERE.get(f) or ELSEWHERE.get(f"{f.split('.')[0]}.*") for f in everything}
    explained = {f for f, where in explanation.items() if where}
    assert not everything - reads - explained, " ".join(sorted(everything - reads - explained))
    for where in {where for where in explanation.values() if where}:  # the tests named for the other fields exist
        path, _, name = where.partition("::")
        assert (TESTS / path).exists() and (not name or f"def {name}(" in (TESTS / path).read_text()), where
