"""A small real campaign archive for the dashboard tests: agents with children, results with a
trajectory, a rejected node, a prompt produced by a meta-prompt, ledger rows."""

from __future__ import annotations

import json
from pathlib import Path

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from opendgm.llm.ledger import CallRecord
from tests.support.archive_helpers import write_tree

TASKS = ["task-a", "task-b", "task-c"]
TRAJECTORY = [
    {"type": "start", "ts": 1.0, "task": "task-a"},
    {"type": "model", "ts": 2.0, "step": 1, "reply": "Let me look.\n```bash\nls\n```"},
    {"type": "action", "ts": 3.0, "step": 1, "command": "ls", "exit_code": 0, "output": "agent.py\n"},
    {"type": "exit", "ts": 4.0, "status": "submitted", "tokens": 42},
]


def _evaluate(archive: Archive, node: str, resolved: set[str], trajectory: str | None = None) -> None:
    archive.set_status(node, "evaluating")
    archive.record_stage(node, "toy", "1", "small", TASKS)
    for task in TASKS:
        archive.record_result(
            ResultRecord(
                node,
                EvaluatorKey("toy", "1"),
                task,
                status="resolved" if task in resolved else "unresolved",
                tests_passed=1 if task in resolved else 0,
                tests_failed=0 if task in resolved else 1,
                duration_s=1.5,
                cost_usd=0.01,
                tokens=100,
                trajectory_path=trajectory if task == "task-a" else None,
            )
        )
    archive.set_status(node, "evaluated")


def _call(archive: Archive, node: str | None, role: str, cost: float) -> None:
    archive.ledger.record(
        CallRecord(
            archive.campaign,
            node,
            role,
            "test",
            "toy-model",
            "ok",
            prompt_tokens=10,
            completion_tokens=5,
            cost_usd=cost,
        )
    )


def build_campaign(root: Path, work: Path) -> dict[str, str]:
    """The archive at `root`; returns the ids of its notable nodes."""
    with Archive.create(root, "web-test") as archive:
        seed = archive.add_agent(write_tree(work / "seed", {"agent.py": "def solve():\n    return 1\n"}))
        _call(archive, None, "meta", 0.05)
        _evaluate(archive, seed.id, {"task-a"})
        child = archive.add_agent(
            write_tree(work / "child", {"agent.py": "def solve():\n    return 2  # improved\n"}),
            seed.id,
            operator="self_improve",
            meta={"problem_statement": "Make solve() return 2."},
        )
        trajectory = archive.artifacts.put(
            f"{child.id}/task-a.jsonl", "".join(json.dumps(s) + "\n" for s in TRAJECTORY)
        )
        _call(archive, child.id, "agent", 0.10)
        _evaluate(archive, child.id, {"task-a", "task-b"}, trajectory)
        rejected = archive.add_agent(
            write_tree(work / "bad", {"agent.py": "syntax error(\n"}), seed.id, operator="self_improve"
        )
        archive.set_status(rejected.id, "rejected", "does not compile")
        grandchild = archive.add_agent(
            write_tree(work / "grand", {"agent.py": "def solve():\n    return 3\n"}), child.id, operator="self_improve"
        )
        _call(archive, grandchild.id, "agent", 0.20)
        _evaluate(archive, grandchild.id, set(TASKS))
        meta = archive.add_node("meta_prompt", "Diagnose the failures.", operator="seed")
        prompt = archive.add_node("prompt", "Solve the task carefully.", operator="pe2")
        archive.add_edge(prompt.id, meta.id, "produced_by")
        return {
            "seed": seed.id,
            "child": child.id,
            "rejected": rejected.id,
            "grandchild": grandchild.id,
            "meta": meta.id,
            "prompt": prompt.id,
        }
