"""DGM's entry choice: the special entries come out at DGM's rates, and each benchmark's rule is its own."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from opendgm.archive.models import TaskResult
from opendgm.evolve import entries
from opendgm.evolve.config import CampaignConfig


def result(task: str, status: str, trajectory: str | None = None) -> TaskResult:
    return TaskResult(
        id=0, code_hash="c", evaluator="e", evaluator_version="1", task_id=task, attempt=0, node_id="n",
        resolved=status == "resolved", status=status, tests_passed=None, tests_failed=None, exit_code=0,
        duration_s=None, log_path=None, trajectory_path=trajectory, patch_path=None, cost_usd=0.0, tokens=0,
        detail=None, created_at=0.0,
    )  # fmt: skip


# 10 tasks: 2 empty patches (20% >= 10%), 3 unresolved, 5 resolved; t5 ran out of context.
RESULTS = (
    [result(f"t{i}", "empty_patch") for i in range(2)]
    + [result(f"t{i}", "unresolved", f"traj/t{i}") for i in range(2, 5)]
    + [result(f"t{i}", "resolved") for i in range(5, 10)]
)


def overflowed(r: TaskResult) -> bool:
    return r.task_id == "t4"


def draws(rule: str, results: list[TaskResult], n: int = 10_000) -> Counter[str]:
    rng = random.Random(15)
    return Counter(entries.choose(rule, results, rng, hit_context=overflowed).kind for _ in range(n))


def test_swebench_rule_gives_dgms_rates_when_every_condition_holds() -> None:
    seen = draws("dgm_swebench", RESULTS)
    for kind, rate in {"empty_patches": 0.25, "stochasticity": 0.1875, "context_length": 0.140625}.items():
        assert abs(seen[kind] / 10_000 - rate) < 0.02, (kind, seen[kind] / 10_000)
    assert abs(seen["task"] / 10_000 - 0.75**3) < 0.02


def test_swebench_rule_skips_what_does_not_hold_and_picks_an_unresolved_task() -> None:
    no_empty = [r for r in RESULTS if r.status != "empty_patch"]
    seen = draws("dgm_swebench", no_empty)
    assert seen["empty_patches"] == 0
    assert abs(seen["stochasticity"] / 10_000 - 0.25) < 0.02
    rng = random.Random(3)
    picked = {entries.choose("dgm_swebench", no_empty, rng).task_id for _ in range(500)} - {None}
    assert picked == {"t2", "t3", "t4"}, "never a resolved task, never an empty patch"


def test_polyglot_rule_has_no_special_entries_and_falls_back_to_any_task() -> None:
    seen = draws("dgm_polyglot", RESULTS, 2000)
    assert set(seen) == {"task"}
    rng = random.Random(1)
    assert {entries.choose("dgm_polyglot", RESULTS, rng).task_id for _ in range(500)} == {f"t{i}" for i in range(5)}
    solved = [result("a", "resolved"), result("b", "resolved")]
    assert {entries.choose("dgm_polyglot", solved, rng).task_id for _ in range(100)} == {"a", "b"}


def test_special_entries_carry_example_tasks_of_their_kind() -> None:
    rng = random.Random(0)
    for _ in range(200):
        entry = entries.choose("dgm_swebench", RESULTS, rng, hit_context=overflowed)
        if entry.kind == "empty_patches":
            assert set(entry.evidence) <= {"t0", "t1"} and entry.evidence
        if entry.kind == "context_length":
            assert entry.evidence == ("t4",)


def test_default_rule_is_unchanged_and_chances_are_configurable() -> None:
    config = CampaignConfig.model_validate({"llm": {"roles": {"agent": {"model": "m"}, "meta": {"model": "m"}}}})
    assert config.self_improve.entry_rule == "opendgm"
    seen = draws("opendgm", RESULTS)
    assert set(seen) == {"task", "empty_patches"} and abs(seen["empty_patches"] / 10_000 - 0.25) < 0.02
    rng = random.Random(2)
    never = entries.Chances(empty_patches=0.0, stochasticity=0.0, context_length=1.0)
    assert entries.choose("dgm_swebench", RESULTS, rng, never, overflowed).kind == "context_length"


@pytest.mark.parametrize("text", ['{"type": "exit", "status": "context_limit"}', "HTTP 400 context_length_exceeded"])
def test_a_context_overflow_is_read_from_the_trajectory(text: str) -> None:
    check = entries.context_overflowed({"traj/t2": text, "traj/t3": "fine"}.__getitem__)
    assert check(RESULTS[2]) and not check(RESULTS[3]) and not check(RESULTS[0])
