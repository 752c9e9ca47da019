"""The dashboard's tree endpoint at scale (goal: under 500 ms at 50,000 nodes), next to the raw query it is built on.

Builds the archive with `archive_scale`'s builders (one `git fast-import`, `Archive.import_agents`,
a 10-task stage per node, a 60-task stage for 10%), or reuses one at --reuse, then times (median of
--runs) `GET /api/{campaign}/tree` through FastAPI's TestClient (open read-only, query, layout, JSON)
against the baseline: the summary query over every node on a fresh connection, both while the archive is
unchanged, right after a new result and right after a new node. Goal: tree < 500 ms.

    python benchmarks/dashboard_tree.py [--nodes 5000] [--runs 15] [--reuse DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from archive_scale import fast_import, full_query, ms, random_tree, record_evaluations, timed
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table

from opendgm.archive import AgentImport, Archive, EvaluatorKey, ResultRecord
from opendgm.web import views
from opendgm.web.app import create_app

console = Console(width=110)


def build(root: Path, nodes: int, seed: int) -> None:
    """A campaign of `nodes` evaluated agents in a random tree (max depth 200) at `root`."""
    rng = random.Random(seed)
    parents = random_tree(nodes, min(200, nodes - 1), rng)
    changes: list[dict[str, str]] = [{"agent/main.py": "def main():\n    return 0\n"}]
    changes += [{f"agent/edit_{i % 50}.py": f"# edited by node {i}\n"} for i in range(1, nodes)]
    with Archive.create(root, "dashboard-bench") as archive:
        commits = fast_import(archive.root / "agents.git", parents, changes)
        entries = [
            AgentImport(commit, parent, operator=rng.choice(("self_improve", "pe2")), status="evaluated")
            for commit, parent in zip(commits, parents, strict=True)
        ]
        ids = [node.id for node in archive.import_agents(entries)]
        record_evaluations(archive, ids, rng)


def main(argv: list[str] | None = None) -> list[tuple[str, float, str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", type=Path, help="campaign dir to reuse (built there when absent)")
    args = parser.parse_args(argv)
    work = None if args.reuse else Path(tempfile.mkdtemp(prefix="opendgm-dashboard-bench-"))
    root = args.reuse or work / "campaign"
    try:
        if not root.exists():
            seconds = timed(lambda: build(root, args.nodes, args.seed))
            console.print(f"built {args.nodes} nodes in {seconds:.1f} s at {root}")
        with (
            Archive.open(root, readonly=True) as archive,
            TestClient(create_app({"bench": root}), base_url="http://127.0.0.1") as client,
        ):
            count = len(client.get("/api/bench/tree").json()["nodes"])
            size = len(client.get("/api/bench/tree").content)
            client.get(BROWSER)  # the page's answer is kept apart: made once here, as an open page has
            baseline = timed(lambda: full_query(root), args.runs)
            endpoint = timed(lambda: client.get("/api/bench/tree"), args.runs)
            changed, changed_cpu = medians([changed_tree(root, client) for _ in range(args.runs)])
            grown, grown_cpu = medians([changed_tree(root, client, new_node=True) for _ in range(args.runs)])
            page = [changed_tree(root, client, new_node=True, path=BROWSER) for _ in range(args.runs)]
            page_grown, page_grown_cpu = medians(page)
            progress, progress_cpu = medians([request(client, "/api/bench/progress") for _ in range(args.runs)])
            idle = "/api/bench/events?since=10000000"
            events, events_cpu = medians([request(client, idle) for _ in range(args.runs)])
            built = timed(lambda: views.tree(archive), args.runs)

            def against(seconds: float) -> str:
                return f"{seconds / baseline:.2f}x the baseline; goal < 500 ms: {'met' if seconds < 0.5 else 'NOT met'}"

            rows = [
                ("baseline: full summary query, every node", baseline, "what each request paid for its rows"),
                (
                    "views.tree (query + layout), open handle",
                    built,
                    f"made afresh; {built / baseline:.2f}x the baseline",
                ),
                ("GET /api/bench/tree", endpoint, f"{count} nodes, {size / 1024:.0f} KiB JSON; {against(endpoint)}"),
                (
                    "GET /api/bench/tree after a change",
                    changed,
                    f"a new result between two requests (not timed); CPU {ms(changed_cpu)}; {against(changed)}",
                ),
                (
                    "GET /api/bench/tree after a new node",
                    grown,
                    f"a new child of a random node (not timed); CPU {ms(grown_cpu)}; {against(grown)}",
                ),
                (
                    f"GET {BROWSER} after a new node",
                    page_grown,
                    f"what the dashboard's page asks (it lays the tree out itself): no x, a new node changes its own"
                    f" row; CPU {ms(page_grown_cpu)}; {against(page_grown)}",
                ),
                (
                    "GET /api/bench/progress",
                    progress,
                    f"every agent's point against nodes, spend and tokens; CPU {ms(progress_cpu)};"
                    f" {progress / baseline:.2f}x the baseline",
                ),
                (
                    "GET /api/bench/events?since=<last>",
                    events,
                    f"the page's live poll when idle; CPU {ms(events_cpu)}; {events / baseline:.2f}x the baseline",
                ),
            ]
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)
    load = "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    table = Table(title=f"dashboard at scale: {count} nodes, median of {args.runs} runs; {load} at the end")
    for column in ("measurement", "median", "note"):
        table.add_column(column)
    for name, seconds, note in rows:
        table.add_row(name, ms(seconds), note)
    console.print(table)
    return rows


def medians(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(wall for wall, _ in pairs), statistics.median(cpu for _, cpu in pairs)


BROWSER = "/api/bench/tree?x=false"


def request(client: TestClient, path: str) -> tuple[float, float]:
    """Wall and CPU seconds (this process: the server thread included) of one request."""
    start, cpu = time.perf_counter(), time.process_time()
    assert client.get(path).status_code == 200
    return time.perf_counter() - start, time.process_time() - cpu


def changed_tree(
    root: Path, client: TestClient, new_node: bool = False, path: str = "/api/bench/tree"
) -> tuple[float, float]:
    """Wall and CPU seconds (this process: the server thread included) of one tree request after the archive
    changed (the kept answer cannot serve; the change untimed):
    a new result of the newest node with code, or a new child of a random agent (the nodes right of it move)."""
    with Archive.open(root, check_code=False) as writer:
        rows = writer.summaries()
        if new_node:
            writer.propose("agent", random.choice(rows).id, operator="self_improve")
        else:
            node = next(row.id for row in reversed(rows) if row.code_hash is not None)
            writer.record_result(
                ResultRecord(node, EvaluatorKey("bench", "1"), f"extra-{random.randrange(10**9)}", status="resolved")
            )
    return request(client, path)


if __name__ == "__main__":
    main()
