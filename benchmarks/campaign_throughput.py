"""Campaign throughput (task evaluations per minute at 1, 2 and 4 workers) and the controller's own overhead.

Each setting runs the scripted campaign (tests/support/scripted_models.py on loopback: the seed fails
every task, its one self-improved child solves them) on the first `--tasks` HumanEval problems, in this
process, on the Docker backend when an engine answers (else local).

Method, measured from outside the campaign code by wrapping methods in this process:
- sandbox time: each sandbox's life, from just before its constructor (container create/start) to the
  end of its first `close()` (DockerSandbox / LocalSandbox);
- model time: each `Router.complete` call (the diagnosis, and the agents' calls through the gateway);
- a node's wall time: its archive `created_at` to `updated_at` (proposal to its last status change);
- controller overhead of a node: its wall time minus the union of the sandbox and model intervals that
  fall inside it (a union: with several workers they overlap). What is left is the campaign's own work:
  archive writes, git materialisation, diff application, scheduling, waiting on its thread pool.
- throughput: per-task results recorded, divided by the time spent inside `evaluate_stage`.
Goal: overhead under 5% of every node's wall time.

    python benchmarks/campaign_throughput.py [--tasks 8] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # the scripted model (tests.support) and its campaign config (tests.evolve)

from opendgm.archive import Archive  # noqa: E402
from opendgm.evolve import campaign as campaign_module  # noqa: E402
from opendgm.llm import Router  # noqa: E402
from opendgm.sandbox.docker_backend import DockerSandbox  # noqa: E402
from opendgm.sandbox.factory import choose_backend  # noqa: E402
from opendgm.sandbox.local_backend import LocalSandbox  # noqa: E402
from tests.evolve.test_campaign import config  # noqa: E402
from tests.support.scripted_models import CapabilityScript  # noqa: E402

GOAL = 0.05
Interval = tuple[float, float]


@dataclass
class Probe:
    """Wall-clock intervals spent in sandboxes, model calls and stage evaluations, from any thread."""

    busy: list[Interval] = field(default_factory=list)
    evaluating: list[Interval] = field(default_factory=list)
    opened: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, intervals: list[Interval], method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.time()
            try:
                return method(*args, **kwargs)
            finally:
                with self.lock:
                    intervals.append((started, time.time()))

        return wrapper

    def opening(self, init: Callable[..., None]) -> Callable[..., None]:
        def wrapper(sandbox: Any, *args: Any, **kwargs: Any) -> None:
            started = time.time()
            init(sandbox, *args, **kwargs)
            with self.lock:
                self.opened[id(sandbox)] = started

        return wrapper

    def closing(self, close: Callable[[Any], None]) -> Callable[[Any], None]:
        def wrapper(sandbox: Any) -> None:
            try:
                close(sandbox)
            finally:
                with self.lock:
                    started = self.opened.pop(id(sandbox), None)
                    if started is not None:
                        self.busy.append((started, time.time()))

        return wrapper

    @contextmanager
    def installed(self) -> Iterator[None]:
        with ExitStack() as stack:
            patch = stack.enter_context
            patch(mock.patch.object(Router, "complete", self.timed(self.busy, Router.complete)))
            evaluate = self.timed(self.evaluating, campaign_module.evaluate_stage)
            patch(mock.patch.object(campaign_module, "evaluate_stage", evaluate))
            for cls in (DockerSandbox, LocalSandbox):
                patch(mock.patch.object(cls, "__init__", self.opening(cls.__init__)))
                patch(mock.patch.object(cls, "close", self.closing(cls.close)))
            yield


def covered(intervals: list[Interval], start: float, end: float) -> float:
    """Length of the union of `intervals` within [start, end]."""
    total, reach = 0.0, start
    for low, high in sorted(intervals):
        low, high = max(low, reach), min(high, end)
        if high > low:
            total += high - low
            reach = high
    return total


@dataclass(frozen=True)
class Figures:
    workers: int
    evaluations: int
    evaluating_s: float
    nodes: list[tuple[str, float, float]]  # id, wall s, overhead s

    @property
    def per_minute(self) -> float:
        return 60 * self.evaluations / self.evaluating_s

    @property
    def worst_share(self) -> float:
        return max(overhead / wall for _id, wall, overhead in self.nodes)


def measure(script: CapabilityScript, backend: str, tasks: str, workers: int, root: Path) -> Figures:
    settings = config(script, backend, name=f"throughput-w{workers}", workers=workers, stages=[{"subset": tasks}])
    probe = Probe()
    with probe.installed():
        reason = campaign_module.run_campaign(settings, root)
    if reason != "done: 1 generations":
        raise SystemExit(f"the campaign with {workers} workers stopped early: {reason}")
    with Archive.open(root, readonly=True) as archive:
        agents = archive.nodes(kind="agent")
        evaluations = sum(len(archive.results(node.id)) for node in agents)
        walls = [(n.id, n.created_at, n.updated_at) for n in agents]
    nodes = [(node, end - start, end - start - covered(probe.busy, start, end)) for node, start, end in walls]
    return Figures(workers, evaluations, sum(end - start for start, end in probe.evaluating), nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=8, help="HumanEval problems per stage")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    backend = choose_backend("auto")
    tasks = ",".join(f"HumanEval_{index}" for index in range(args.tasks))
    script = CapabilityScript()
    try:
        with tempfile.TemporaryDirectory(prefix="opendgm-throughput-") as scratch:
            runs = [measure(script, backend, tasks, w, Path(scratch) / f"w{w}") for w in args.workers]
    finally:
        script.stop()
    title = f"campaign throughput: seed + 1 child, {args.tasks} tasks each, {backend}; ctl = controller overhead"
    table = Table(title=title)
    for column in ("workers", "evals", "eval s", "evals/min", "node", "wall s", "ctl s", "ctl %"):
        table.add_column(column, justify="right")
    for run in runs:
        for index, (node, wall, overhead) in enumerate(run.nodes):
            first = index == 0
            table.add_row(
                str(run.workers) if first else "",
                str(run.evaluations) if first else "",
                f"{run.evaluating_s:.1f}" if first else "",
                f"{run.per_minute:.1f}" if first else "",
                node,
                f"{wall:.1f}",
                f"{overhead:.2f}",
                f"{100 * overhead / wall:.1f}",
            )
    console = Console()
    console.print(table)
    worst = max(run.worst_share for run in runs)
    verdict = "met" if worst < GOAL else "NOT met"
    console.print(f"controller overhead, worst node: {100 * worst:.1f}% of its wall time (goal < 5%): {verdict}")


if __name__ == "__main__":
    main()
