"""The archive at campaign scale, side by side in one run.

Builds an archive of N agent nodes (default 10,000) in a random tree with a spine down to depth 200;
each child edits one or two files of a small agent (sometimes adding one). Git objects are written with
one `git fast-import` and registered with `Archive.import_agents`; every node gets a 10-task stage and
10% a cumulative 60-task stage, with per-task results. Then it measures:

1. materialising the deepest node from git, vs DGM's way (copy the seed, `patch -p1` every ancestor's
   diff in order), and materialising nodes at other depths (git's cost does not grow with depth);
2. parent selection as a campaign pays it: a new result between two selections, then `Archive.summaries`
   (kept between calls, only changed nodes re-read) and the selector's draw — goal < 50 ms — against the
   full summary query over every node that each selection paid before (the baseline, same run);
3. the tree views: `tree --all` rendered to a string (goal < 0.5 s per 10,000 nodes), networkx graph
   build, JSON and DOT export.

    python benchmarks/archive_scale.py [--nodes 10000] [--max-depth 200] [--seed 0] [--reuse DIR]
"""

from __future__ import annotations

import argparse
import filecmp
import io
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from rich.console import Console
from rich.table import Table

from opendgm.archive import AgentImport, Archive, EvaluatorKey, ResultImport, ResultRecord
from opendgm.archive import summaries as summary_rows
from opendgm.archive.cli import export_dot, export_json, print_tree
from opendgm.evolve.selectors import SELECTORS

SEED_FILES, SEED_LINES = 24, 40
SMALL = [f"task-{i:03d}" for i in range(10)]
MEDIUM = SMALL + [f"task-{i:03d}" for i in range(10, 60)]
console = Console(width=110)


def random_tree(nodes: int, max_depth: int, rng: random.Random) -> list[int | None]:
    """Parent index of each node: a spine to `max_depth`, then uniformly random attachment."""
    parents: list[int | None] = [None, *range(max_depth)]
    depth = list(range(max_depth + 1))
    while len(parents) < nodes:
        parent = rng.randrange(len(parents))
        if depth[parent] < max_depth:
            parents.append(parent)
            depth.append(depth[parent] + 1)
    return parents


def seed_agent() -> dict[str, str]:
    return {
        f"agent/module_{f:02d}.py": "".join(f"def step_{f}_{line}(x):  # seed\n" for line in range(SEED_LINES))
        for f in range(SEED_FILES)
    }


def evolve(parents: list[int | None], rng: random.Random) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Each node's full file map (shared strings) and its changes from its parent."""
    trees: list[dict[str, str]] = []
    changes: list[dict[str, str]] = []
    for index, parent in enumerate(parents):
        if parent is None:
            trees.append(seed_agent())
            changes.append(trees[0])
            continue
        tree, changed = dict(trees[parent]), {}
        for path in rng.sample(sorted(tree), rng.choice((1, 2))):
            lines = tree[path].splitlines(keepends=True)
            lines[rng.randrange(len(lines))] = f"def step_{index}(x):  # edited by node {index}\n"
            changed[path] = "".join(lines)
        if rng.random() < 0.1:
            changed[f"agent/tool_{index}.py"] = f"def tool_{index}():\n    return {index}\n"
        tree.update(changed)
        trees.append(tree)
        changes.append(changed)
    return trees, changes


def fast_import(git_dir: Path, parents: list[int | None], changes: list[dict[str, str]]) -> list[str]:
    """All commits in one `git fast-import` (commit i has mark i+1, its parent's mark as `from`)."""
    stream = io.BytesIO()
    for index, (parent, changed) in enumerate(zip(parents, changes, strict=True)):
        message = f"node {index}".encode()
        stream.write(b"commit refs/heads/import\nmark :%d\n" % (index + 1))
        stream.write(b"committer bench <bench@localhost> %d +0000\n" % (1_700_000_000 + index))
        stream.write(b"data %d\n%s\n" % (len(message), message))
        if parent is not None:
            stream.write(b"from :%d\n" % (parent + 1))
        for path, content in changed.items():
            raw = content.encode()
            stream.write(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(raw), raw))
    marks = git_dir / "bench-marks"
    git = ["git", "--git-dir", str(git_dir)]
    subprocess.run([*git, "fast-import", "--quiet", f"--export-marks={marks}"], input=stream.getvalue(), check=True)
    subprocess.run([*git, "update-ref", "-d", "refs/heads/import"], check=True)
    commits = dict(line.split() for line in marks.read_text().splitlines())
    marks.unlink()
    return [commits[f":{index + 1}"] for index in range(len(parents))]


def record_evaluations(archive: Archive, nodes: list[str], rng: random.Random) -> int:
    """A small stage for every node, a cumulative medium stage for 10%; returns the result count. The results
    go in through `Archive.import_results` (the bulk path: one statement, the same triggers and events)."""
    results = []
    with archive.transaction():
        for node in nodes:
            skill = rng.random()
            stages = [("small", SMALL)] + ([("medium", MEDIUM)] if rng.random() < 0.1 else [])
            for stage, tasks in stages:
                archive.record_stage(node, "bench", "1", stage, tasks)
                for task in tasks:
                    status = "resolved" if rng.random() < skill else "unresolved"
                    results.append(ResultImport(node, "bench", "1", task, status))
        return archive.import_results(results)


def timed(action: Callable[[], object], runs: int = 1) -> float:
    """Median wall time of `runs` calls, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def replay_patch_chain(seed_dir: Path, patches: list[Path], dest: Path) -> None:
    """DGM's way: start from the seed agent, `patch -p1` each ancestor's diff in order."""
    shutil.copytree(seed_dir, dest)
    for patch in patches:
        subprocess.run(["patch", "-p1", "-s", "-i", str(patch)], cwd=dest, check=True)


def same_tree(left: Path, right: Path) -> bool:
    comparison = filecmp.dircmp(left, right)
    pending = [comparison]
    while pending:
        current = pending.pop()
        _, mismatch, errors = filecmp.cmpfiles(current.left, current.right, current.common_files, shallow=False)
        if current.left_only or current.right_only or mismatch or errors:
            return False
        pending.extend(current.subdirs.values())
    return True


Row = tuple[str, str, str]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def build(root: Path, parents: list[int | None], changes: list[dict[str, str]], rng: random.Random) -> list[Row]:
    """The archive at `root` (agents, stages, results, all in bulk), and the build timings."""
    start = time.perf_counter()
    archive = Archive.create(root, "archive-scale")
    commits = fast_import(archive.root / "agents.git", parents, changes)
    imported = time.perf_counter()
    entries = [
        AgentImport(commit, parent, operator="self_improve", message=f"node {i}", status="evaluated")
        for i, (commit, parent) in enumerate(zip(commits, parents, strict=True))
    ]
    with archive:
        nodes = [node.id for node in archive.import_agents(entries)]
        registered = time.perf_counter()
        results = record_evaluations(archive, nodes, rng)
    evaluated = time.perf_counter()
    console.print(f"archive of {len(parents)} nodes built in {evaluated - start:.1f} s")
    return [
        ("build: git fast-import", f"{imported - start:.1f} s", "one process, all commits"),
        ("build: import_agents (rows + refs)", f"{registered - imported:.1f} s", "one transaction"),
        ("build: stages + per-task results", f"{evaluated - registered:.1f} s", f"{results} results (import_results)"),
    ]


def measure_materialise(archive: Archive, nodes: list[str], trees: list, work: Path) -> list[Row]:
    """Git at several depths vs DGM's patch-chain replay of the deepest node (checked identical)."""
    graph = archive.graph()
    depth = {node: graph.nodes[node]["depth"] for node in nodes}
    deepest = max(nodes, key=depth.__getitem__)
    by_depth = {depth[node]: node for node in nodes}
    fresh = iter(range(10**6))
    rows = []
    for level in sorted({1, 50, 100, depth[deepest]} & set(by_depth)):
        node = by_depth[level]
        seconds = timed(lambda node=node: archive.materialize(node, work / f"m{next(fresh)}"), runs=5)
        note = f"one read-tree -u; {len(trees[nodes.index(node)])} files"
        rows.append((f"materialise via git, depth {level}", ms(seconds), note))
    lineage = [node.id for node in archive.lineage(deepest)]
    seed_dir = archive.materialize(lineage[0], work / "seed")
    (work / "patches").mkdir()
    patches = []
    for index, node in enumerate(lineage[1:]):  # DGM keeps each node's model_patch.diff on disk
        patches.append(work / "patches" / f"{index:03d}.diff")
        patches[-1].write_text(archive.diff_to_parent(node))
    for chain in (patches, patches[:1]):
        seconds = timed(lambda chain=chain: replay_patch_chain(seed_dir, chain, work / f"r{next(fresh)}"), runs=3)
        rows.append((f"replay patch chain, depth {len(chain)} (DGM)", ms(seconds), "copy seed + patch -p1 each"))
    archive.materialize(deepest, work / "check-git")
    replay_patch_chain(seed_dir, patches, work / "check-replay")
    expected = _write(work / "check-expected", trees[nodes.index(deepest)])
    same = same_tree(work / "check-git", work / "check-replay") and same_tree(work / "check-git", expected)
    rows.append(("deepest: git == replay == generated", "yes" if same else "NO", f"{deepest}, depth {depth[deepest]}"))
    return rows


def full_query(root: Path, filters: tuple[str | None, str | None] = (None, None)) -> int:
    """The summary query over every node on a fresh connection (no rows kept from an earlier call): what each
    selection and each whole-tree view paid before the summaries were kept."""
    with closing(sqlite3.connect(root / "archive.sqlite")) as conn:
        return len(summary_rows.query(conn, filters))


def measure_selection(archive: Archive, nodes: list[str], rng: random.Random, runs: int = 15) -> list[Row]:
    """Parent selection as a campaign pays it (goal < 50 ms), for every selector: a new result lands between two
    selections, then the maintained summaries and the selector's draw (wall and this process's CPU, medians);
    against the full summary query every selection paid before (the baseline, same run)."""
    key = EvaluatorKey("bench", "1")

    def one_result() -> None:
        node, task = rng.choice(nodes), f"extra-{rng.randrange(10**9)}"
        archive.record_result(ResultRecord(node, key, task, status=rng.choice(["resolved", "unresolved"])))

    def select(selector: str) -> tuple[float, float]:
        SELECTORS[selector](archive.summaries(evaluator=key), 2, rng)  # warm: the campaign's first selection
        walls, cpus = [], []
        for _ in range(runs):
            one_result()
            start, cpu = time.perf_counter(), time.process_time()
            SELECTORS[selector](archive.summaries(evaluator=key), 2, rng)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        return statistics.median(walls), statistics.median(cpus)

    baseline = timed(lambda: full_query(archive.root, key), runs=5)
    rows = [("baseline: full summary query (each selection before)", ms(baseline), "also a run's first selection")]
    for selector in SELECTORS:
        seconds, cpu = select(selector)
        goal = f"goal < 50 ms: {'met' if seconds < 0.05 else 'NOT met'}"
        note = f"{baseline / seconds:.0f}x faster than the baseline; CPU {ms(cpu)}; {goal}"
        rows.append((f"selection: summaries + {selector} draw (k=2)", ms(seconds), note))
    return rows


def measure_views(archive: Archive) -> list[Row]:
    """The whole-tree views: `tree --all` (goal < 0.5 s at 10,000 nodes), graph build, exports; each against the
    full summary query over every node (the baseline, same run: what any whole-tree view reads first)."""
    text = io.StringIO()
    rows = archive.summaries(kind=None)
    baseline = timed(lambda: full_query(archive.root), runs=3)
    render = timed(lambda: print_tree(archive, None, Console(file=text, width=2000, color_system=None)))
    size = sum(p.stat().st_size for p in (archive.root / "agents.git").rglob("*") if p.is_file())
    lines = text.getvalue().count(chr(10))
    per_10k = render * 10_000 / len(rows)
    command, command_cpu = tree_command(archive.root)

    def against(seconds: float) -> str:
        return f"{seconds / baseline:.1f}x the baseline"

    graph, json_export, dot_export = (
        timed(archive.graph, runs=3),
        timed(lambda: export_json(archive)),
        timed(lambda: export_dot(archive)),
    )
    return [
        ("baseline: full summary query, every node", ms(baseline), "fresh query, no kept rows"),
        (
            "tree --all render to a string",
            ms(render),
            f"{lines} lines; {against(render)}; per 10,000 nodes {ms(per_10k)}"
            f" (goal < 0.5 s: {'met' if per_10k < 0.5 else 'NOT met'})",
        ),
        (
            "`opendgm tree DIR --all`, the command",
            ms(command),
            f"a fresh process: start-up, imports, open, query, render to a pipe; CPU {ms(command_cpu)};"
            f" {against(command)}{'' if len(rows) == 10_000 else ' (the goal is at 10,000 nodes)'}"
            f" (goal < 0.5 s: {'met' if command < 0.5 else 'NOT met'})",
        ),
        ("networkx graph build", ms(graph), f"archive.graph(), query included; {against(graph)}"),
        ("export json", ms(json_export), f"nodes, scores per stage, edges; {against(json_export)}"),
        ("export dot", ms(dot_export), against(dot_export)),
        ("agents.git size on disk", f"{size / 2**20:.1f} MiB", "as packed by fast-import"),
    ]


def tree_command(root: Path, runs: int = 3) -> tuple[float, float]:
    """Median wall and CPU seconds of `opendgm tree ROOT --all` as a user runs it (its own process and any it
    starts, e.g. git), output to a pipe."""
    command = [sys.executable, "-c", "from opendgm.cli import main; main()", "tree", str(root), "--all"]
    walls, cpus = [], []
    for _ in range(runs):
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.PIPE)
        after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - start
        walls.append(wall)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--max-depth", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reuse", type=Path, help="campaign dir to reuse (built there when absent; same --nodes/--seed)"
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="opendgm-archive-scale-"))
    root = args.reuse or work / "campaign"
    rng = random.Random(args.seed)
    try:
        start = time.perf_counter()
        parents = random_tree(args.nodes, args.max_depth, rng)
        trees, changes = evolve(parents, rng)
        rows = [("build: generate tree + file edits", f"{time.perf_counter() - start:.1f} s", f"{args.nodes} nodes")]
        rows += build(root, parents, changes, rng) if not root.exists() else [("build", "reused", str(root))]
        with Archive.open(root) as archive:
            nodes = [node.id for node in archive.nodes(kind="agent")]
            rows += measure_materialise(archive, nodes, trees, work)
            rows += measure_selection(archive, nodes, random.Random(args.seed)) + measure_views(archive)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    table = Table(title=f"archive at scale: {args.nodes} agent nodes, max depth {args.max_depth}; {load} at the end")
    for column in ("measurement", "figure", "note"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return rows


def _write(root: Path, files: dict[str, str]) -> Path:
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return root


if __name__ == "__main__":
    main()
