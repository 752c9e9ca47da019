"""A small campaign whose spend is known by hand (tests/archive/test_costs.py gives the figures): four agents, each
one's model calls recorded before its figure was known, and a campaign-level check at the end."""

from __future__ import annotations

from pathlib import Path

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from opendgm.llm.ledger import CallRecord
from tests.support.archive_helpers import write_tree

TASKS = [f"t{i}" for i in range(10)]
# node: (parent, operator, tasks resolved of 10); posterior means 4/12, 7/12, 3/12, 9/12
AGENTS = {"n0001": (None, "seed", 3), "n0002": ("n0001", "self_improve", 6), "n0003": ("n0001", "self_improve", 2)}
AGENTS["n0004"] = ("n0002", "self_improve", 8)


def _call(node: str | None, role: str, purpose: str, usd: float, tokens: tuple[int, int, int, int]) -> CallRecord:
    prompt, completion, read, write = tokens
    return CallRecord("costs", node, role, purpose, "m", "ok", prompt, completion, usd, 1.0, 1,
                      cache_read_tokens=read, cache_write_tokens=write)  # fmt: skip


def build_cost_campaign(root: Path, work: Path) -> Path:
    """Each child: a diagnosis ($0.05, 2,000 prompt tokens written to a cache), a self-modification ($0.20, 3,000
    prompt tokens, 2,400 read) and two task runs ($0.10 each, 1,000 prompt tokens, 800 read); the seed: the runs."""
    with Archive.create(root, "costs") as archive:
        for name, (parent, operator, resolved) in AGENTS.items():
            node = archive.add_agent(write_tree(work / name, {"agent.py": f"# {name}\n"}), parent, operator=operator)
            assert node.id == name
            if parent is not None:
                archive.ledger.record(_call(name, "meta", "diagnose", 0.05, (2000, 100, 0, 2000)))
                archive.ledger.record(_call(name, "agent", "self_improve", 0.20, (3000, 300, 2400, 0)))
            for task in TASKS[:2]:
                archive.ledger.record(_call(name, "agent", f"agent {task}", 0.10, (1000, 100, 800, 0)))
            archive.set_status(name, "evaluating")
            archive.record_stage(name, "toy", "1", "all", TASKS)
            for i, task in enumerate(TASKS):
                archive.record_result(
                    ResultRecord(
                        name, EvaluatorKey("toy", "1"), task, status="resolved" if i < resolved else "unresolved"
                    )
                )
            archive.set_status(name, "evaluated")
        archive.ledger.record(_call(None, "meta", "check", 0.01, (100, 5, 0, 0)))
    return root
