"""A real campaign archive with everything the dashboard and the exports show, hostile text included.

seed (2/6) -> child by self_improve (5/6, then 6/8 on a cumulative second stage: the best agent) -> grandchild
(4/6); seed -> rejected during self-modification (a self-modification log, no code); seed -> failed; a
meta-prompt that produced the child. Agent-written text (code, file name, diff, trajectories, problem
statement, rejection reason, event data, model names) carries `<script>` and `onerror` payloads that set
`window.__pwned` if a page ever runs them. Model calls are partly free (local) and partly paid.
"""

from __future__ import annotations

import json
from pathlib import Path

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from opendgm.llm.ledger import CallRecord
from tests.support.archive_helpers import write_tree

SCRIPT = "<script>window.__pwned = 'script'</script>"
IMG = "<img src=x onerror=\"window.__pwned = 'img'\">"
PAYLOAD = f"{SCRIPT}{IMG}"
SMALL = [f"task-{i}" for i in range(6)]
MEDIUM = [*SMALL, "task-6", "task-7"]


def trajectory(task: str, hostile: bool = False) -> str:
    steps = [
        {"type": "start", "ts": 1.0, "task": task},
        {"type": "model", "ts": 2.0, "step": 1, "reply": f"I will look first {PAYLOAD if hostile else ''}"},
        {"type": "action", "ts": 3.0, "step": 1, "command": "ls", "exit_code": 0, "output": f"a.py {IMG}"},
        {"type": "exit", "ts": 4.0, "status": "submitted"},
    ]
    return "".join(json.dumps(step) + "\n" for step in steps)


def _evaluate(archive: Archive, node: str, stage: str, tasks: list[str], solved: int) -> None:
    archive.set_status(node, "evaluating")
    archive.record_stage(node, "toy", "1", stage, tasks)
    for index, task in enumerate(tasks):
        if archive.cached_result(node, "toy", "1", task):
            continue
        path = archive.artifacts.put(f"{node}/{task}.jsonl", trajectory(task, hostile=index == 0))
        patch = archive.artifacts.put(f"{node}/{task}.patch", f"--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+{IMG}\n")
        archive.record_result(
            ResultRecord(
                node,
                EvaluatorKey("toy", "1"),
                task,
                status="resolved" if index < solved else "unresolved",
                tests_passed=index < solved,
                tests_failed=index >= solved,
                duration_s=2.5 + index,
                cost_usd=0.001 * index,
                tokens=100 + index,
                trajectory_path=path,
                patch_path=patch,
                detail=f"grading note {IMG}" if index else None,
            )
        )
    archive.set_status(node, "evaluated")


def _call(archive: Archive, node: str | None, role: str, cost: float, model: str = "local/smollm2") -> None:
    archive.ledger.record(
        CallRecord(archive.campaign, node, role, "test", model, "ok", 1000, 250, cost, latency_s=1.25, attempts=1)
    )


def build_showcase(root: Path, work: Path) -> dict[str, str]:
    """The archive at `root`; returns the ids of its notable nodes."""
    seed_files = {
        "agent.py": 'import json\n\n\ndef solve(task: str) -> str:\n    """Solve it."""\n    return "seed"  # v1\n',
        "tools/edit.py": "def edit(path):\n    return open(path).read()\n",
        "prompts/system.md": "You are a careful coding agent.\n",
    }
    with Archive.create(root, "showcase") as archive:
        seed = archive.add_agent(write_tree(work / "seed", seed_files), operator="seed", message="seed agent")
        _evaluate(archive, seed.id, "1:small", SMALL, 2)
        archive.log_event("generation", data={"generation": 0, "parents": [seed.id], "children": []})
        child_files = seed_files | {
            "agent.py": seed_files["agent.py"].replace('"seed"  # v1', f'"{SCRIPT}"  # v2 {IMG}'),
            f"notes/{IMG}.md": f"hostile file name and body {PAYLOAD}\n",
        }
        meta = archive.add_node("meta_prompt", "Diagnose the failure, then propose one change.", operator="seed")
        child = archive.add_agent(
            write_tree(work / "child", child_files), seed.id, operator="self_improve", message="better edits",
            meta={"problem_statement": f"Make edits reliable. {PAYLOAD}", "entry": {"kind": "task", "task_id": "t3"}},
        )  # fmt: skip
        archive.add_edge(child.id, meta.id, "produced_by")
        archive.artifacts.put(f"nodes/{child.id}/self_improve.jsonl", trajectory("self-improve", hostile=True))
        _call(archive, child.id, "meta", 0.0)
        _call(archive, child.id, "agent", 0.0)
        _evaluate(archive, child.id, "1:small", SMALL, 5)
        _evaluate(archive, child.id, "2:medium", MEDIUM, 7)
        rejected = archive.propose("agent", seed.id, operator="self_improve", meta={"problem_statement": "Add tests."})
        archive.set_status(rejected.id, "modifying")
        archive.artifacts.put(f"nodes/{rejected.id}/self_improve.jsonl", trajectory("self-improve", hostile=True))
        archive.artifacts.put(f"nodes/{rejected.id}/self_improve.patch", f"+++ b/agent.py\n+broken({IMG}\n")
        archive.set_status(rejected.id, "rejected", f"the self-modification diff does not apply: {IMG}")
        _call(archive, rejected.id, "agent", 0.0)
        grandchild = archive.add_agent(
            write_tree(work / "grand", child_files | {"agent.py": child_files["agent.py"] + "# v3\n"}),
            child.id, operator="self_improve", meta={"problem_statement": "Retry failed edits once."},
        )  # fmt: skip
        _evaluate(archive, grandchild.id, "1:small", SMALL, 4)
        _call(archive, grandchild.id, "agent", 0.02, model=f"openai/gpt-4o-mini {IMG}")
        failed = archive.propose("agent", seed.id, operator="pe2")
        archive.set_status(failed.id, "failed", "model error: the provider answered 500")
        archive.ledger.record(
            CallRecord("showcase", failed.id, "meta", "pe2", "local/smollm2", "error", error=f"HTTP 500 {IMG}")
        )
        archive.log_event("generation", data={"generation": 1, "parents": [seed.id, child.id], "children": []})
        archive.log_event("task_infrastructure_failure", grandchild.id, {"task": "task-9", "detail": PAYLOAD})
        archive.log_event("custom_hostile", child.id, {"note": PAYLOAD})
        archive.log_event("campaign_stopped", data={"reason": "done: 2 generations"})
        return {
            "seed": seed.id,
            "child": child.id,
            "rejected": rejected.id,
            "grandchild": grandchild.id,
            "failed": failed.id,
            "meta": meta.id,
        }


def free_campaign(root: Path, work: Path, solved: int) -> str:
    """One seed evaluated on five tasks (`solved` resolved), charged one free (local) model call of 1,000
    tokens: spend is $0, tokens are not. Returns the seed's id."""
    (work / "free-code").mkdir()
    (work / "free-code" / "agent.py").write_text("x = 1\n")
    with Archive.create(root, root.name) as archive:
        seed = archive.add_agent(work / "free-code", operator="seed")
        archive.ledger.record(CallRecord(root.name, seed.id, "agent", "agent", "local/smollm2", "ok", 700, 300, 0.0))
        archive.set_status(seed.id, "evaluating")
        archive.record_stage(seed.id, "toy", "1", "small", [f"t{i}" for i in range(5)])
        for i in range(5):
            archive.record_result(
                ResultRecord(
                    seed.id, EvaluatorKey("toy", "1"), f"t{i}", status="resolved" if i < solved else "unresolved"
                )
            )
        archive.set_status(seed.id, "evaluated")
        return seed.id
