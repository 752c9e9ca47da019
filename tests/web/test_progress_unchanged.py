"""The dashboard's progress view, read in lean queries and built in C-level passes, answers exactly what the
per-record version answered (frozen below as the reference) on a real archive changing step by step: ties in
call times, pending calls, calls charged to no node, unscored and rejected agents, meta updates that move when an
agent became known."""

from __future__ import annotations

import bisect
import itertools
import json
import random
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from opendgm.archive import TRANSITIONS, Archive, EvaluatorKey, ResultRecord
from opendgm.llm.ledger import CallRecord
from opendgm.web import views
from opendgm.web.app import create_app
from tests.support.archive_helpers import write_tree


def reference(archive: Archive) -> dict[str, Any]:
    """The progress view as it was before (one record per node and per call, a Python pass per point)."""
    with archive.snapshot():
        rows = archive.summaries()
        changed = {item.id: item.updated_at for item in archive.nodes(kind="agent")}
        calls = sorted(archive.ledger.calls(), key=lambda call: call.ts)
    times = [call.ts for call in calls]
    spent = list(itertools.accumulate((call.cost_usd for call in calls), initial=0.0))
    used = list(itertools.accumulate((call.prompt_tokens + call.completion_tokens for call in calls), initial=0))
    by_node = running([(count, row) for count, row in enumerate(rows, 1) if row.score is not None])
    scored = sorted((row for row in rows if row.score is not None), key=lambda row: changed[row.id])
    by_spend = running([(spent[bisect.bisect_right(times, changed[row.id])], row) for row in scored])
    by_tokens = running([(used[bisect.bisect_right(times, changed[row.id])], row) for row in scored])
    roles: dict[str, dict[str, float]] = {}
    for call in calls:
        role = roles.setdefault(call.role, {"calls": 0, "cost_usd": 0.0, "tokens": 0})
        role["calls"] += 1
        role["cost_usd"] += call.cost_usd
        role["tokens"] += call.prompt_tokens + call.completion_tokens
    return {
        "by_node": by_node,
        "by_spend": by_spend,
        "by_tokens": by_tokens,
        "by_role": roles,
        "total_cost_usd": spent[-1],
        "total_tokens": used[-1],
        "agents": len(rows),
        "scored": len(scored),
    }


def running(points: list[tuple[float, Any]]) -> list[dict[str, Any]]:
    out, best, total = [], 0.0, 0.0
    for count, (x, row) in enumerate(points, 1):
        best, total = max(best, row.score), total + row.score
        out.append({"x": x, "id": row.id, "score": row.score, "best": best, "mean": total / count})
    return out


def exact(value: object) -> str:
    """The JSON text: equal texts mean equal floats bit for bit (repr round-trips) and equal key order."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def step(archive: Archive, agents: list[str], rng: random.Random, work: Path, clock: list[float]) -> None:
    draw, node = rng.random(), rng.choice(agents)
    if draw < 0.2:
        code = write_tree(work / f"a{len(agents)}", {"agent.py": f"def solve():\n    return {len(agents)}\n"})
        agents.append(archive.add_agent(code, node, operator="self_improve").id)
        if rng.random() < 0.7:  # a stage of 12 tasks: its results make a score
            archive.record_stage(agents[-1], "e", "1", "small", [f"t{task}" for task in range(12)])
    elif draw < 0.55:
        task, status = f"t{rng.randrange(12)}", rng.choice(["resolved", "unresolved"])
        archive.record_result(ResultRecord(node, EvaluatorKey("e", "1"), task, status=status))
    elif draw < 0.65:
        allowed = sorted(TRANSITIONS[archive.node(node).status] - {"built", "modifying"})
        if allowed:
            archive.set_status(node, rng.choice(allowed), reason="step")
    elif draw < 0.72:
        archive.update_meta(node, {"note": rng.random()})  # moves when the agent counts as known
    else:
        if rng.random() < 0.5:  # else a tie with the last call
            clock[0] = time.time()
        outcome = "pending" if rng.random() < 0.1 else "ok"
        charged = None if rng.random() < 0.2 else node
        role = rng.choice(["agent", "meta", "judge"])
        cost, prompt, completion = rng.random() / 7, rng.randrange(50), rng.randrange(20)
        record = CallRecord(archive.campaign, charged, role, "p", "m", outcome, prompt, completion, cost, ts=clock[0])
        archive.ledger.record(record)


def test_progress_equals_the_per_record_reference_as_the_archive_changes(tmp_path: Path) -> None:
    rng, clock = random.Random(11), [time.time()]
    root = tmp_path / "c"
    with Archive.create(root, "progress") as writer:
        agents = [writer.add_agent(write_tree(tmp_path / "seed", {"agent.py": "def solve():\n    return 0\n"})).id]
        with TestClient(create_app({"c": root}), base_url="http://127.0.0.1") as client:
            for number in range(40):
                for _ in range(rng.randrange(1, 6)):
                    step(writer, agents, rng, tmp_path, clock)
                with Archive.open(root, readonly=True) as reader:
                    expected = exact(reference(reader))
                    assert exact(views.progress(reader)) == expected, number
                assert client.get("/api/c/progress").content == expected.encode(), number
    final = json.loads(expected)
    assert final["scored"] >= 5 and len(final["by_role"]) == 3  # the walk exercised what it claims
    assert len({point["x"] for point in final["by_spend"]}) > 2
