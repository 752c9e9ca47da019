"""A campaign writer that runs until it is killed (the SIGKILL durability test runs it).

It prints each thing it wrote only after the archive call returned, so every printed line names a
record that must survive the kill. Usage: python -m tests.support.crash_writer CAMPAIGN_DIR SEED
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from opendgm.archive import GZIP_THRESHOLD, Archive, EvaluatorKey, ResultRecord
from opendgm.llm.ledger import CallRecord
from tests.support.archive_helpers import write_tree

TASKS = ["t0", "t1", "t2"]


def main(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    archive = Archive.open(root)
    nodes = [node.id for node in archive.nodes(kind="agent")]
    for step in range(1, 10_000):
        files = {"agent.py": f"# {seed}-{step}\n", f"tools/t{step % 7}.py": f"x = {step}\n"}
        code = write_tree(root.parent / f"code-{seed}", files)
        node = archive.add_agent(code, rng.choice(nodes) if nodes else None, meta={"seed": seed, "step": step})
        print("node", node.id, flush=True)
        archive.set_status(node.id, "evaluating")
        archive.record_stage(node.id, "eval", "1", "small", TASKS)
        for task in TASKS:
            size = GZIP_THRESHOLD * 2 if rng.random() < 0.3 else 100
            path = archive.artifacts.put(f"{node.id}/{task}.jsonl", "x" * size)
            status = rng.choice(["resolved", "unresolved"])
            result = archive.record_result(
                ResultRecord(node.id, EvaluatorKey("eval", "1"), task, status=status, trajectory_path=path)
            )
            print("result", result.id, flush=True)
        call = CallRecord(archive.campaign, node.id, "agent", "task", "m", "ok", 10, 5, 0.001)
        archive.ledger.record(call)
        print("call", call.id, flush=True)
        archive.set_status(node.id, "evaluated")
        print("evaluated", node.id, flush=True)
        nodes.append(node.id)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
