"""What running on Ray costs the campaign: per-task overhead on a real local cluster, and the head's scheduling cost
as the cluster grows to 100 nodes (simulated).

1. The same stage of `--tasks` tasks of `--task-s` seconds each, on the local executor (2 threads: the baseline)
   and on a two-node local Ray cluster (one CPU each). A Ray unit does what a real one does besides the agent's
   work: it checks the agent's code out of its node's cache (fetched by hash from the head once per node), starts
   and stops its node's gateway, then runs the "task" (a sleep). The overhead Ray adds per task is the difference of
   the wall times divided by the tasks each worker ran; goal: under 5% of a task's wall time with a 5-second task.
   Throughput (tasks per minute) on one node and on two is reported, not asserted (2 cores).
2. A simulated cluster of 10, 50 and 100 nodes: a fake executor runs each unit as a sleep of `--sim-task-s` on one of
   the nodes (threads), and the head does its real work per unit: the unit's code reference, models and attempt,
   then recording the result (ledger rows, the unit's event, artifacts and the result row in a real archive). The
   head's CPU time per unit should stay flat as nodes grow.

    python benchmarks/ray_overhead.py [--tasks 20] [--task-s 5] [--nodes 10 50 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from opendgm.agents.contract import agent_source
from opendgm.archive import Archive
from opendgm.archive.gitstore import GitStore
from opendgm.cluster.head import ClusterRuns
from opendgm.cluster.units import CodeRef, Models, Report, Sandboxing, TaskUnit
from opendgm.evaluators.evaluation import EvaluationContext, evaluate_tasks
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.runner import TaskOutcome
from opendgm.llm.roles import BudgetLimits, RetryPolicy, RoleConfig
from opendgm.llm.router import Router
from opendgm.sandbox.spec import DEFAULT_IMAGE

GOAL = 0.05
ROLE = RoleConfig(model="openai/bench", api_base="http://127.0.0.1:9/v1")


def sleep_task(seconds: float) -> None:
    time.sleep(seconds)


def unit_on_node(job: tuple[CodeRef, Models, float]) -> str:
    """On a Ray worker: what a unit does besides the agent's work (code from the node's cache, a gateway), and the
    task itself (a sleep)."""
    from opendgm.cluster import worker

    code, models, seconds = job
    with tempfile.TemporaryDirectory(prefix="odgm-bench-") as scratch, worker.gateway(models, "bench"):
        worker.checkout(code, Path(scratch) / "agent")
        time.sleep(seconds)
    return worker.where()


def ran(executor: Any, jobs: list[tuple[CodeRef, Models, float]]) -> list[str]:
    """Where each job ran; a job that failed on its node stops the benchmark (its figure would be meaningless)."""
    results = [result for _, result in executor.map_unordered(unit_on_node, jobs)]
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


@contextmanager
def local_cluster(address: str | None) -> Iterator[str]:
    """The cluster at `address`, or a two-node local one (one CPU each) started and stopped here."""
    if address:
        yield address
        return
    from ray.cluster_utils import Cluster

    temp = Path(tempfile.mkdtemp(prefix="odgr-", dir="/tmp"))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "temp_dir": str(temp),
                                                            "include_dashboard": False})  # fmt: skip
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        yield cluster.address
    finally:
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def real_cluster(tasks: int, task_s: float, address: str | None) -> dict[str, float]:
    """Part 1: the local executor (as many threads as the cluster has one-CPU nodes) vs the cluster, same stage."""
    import ray

    from opendgm.cluster.config import ExecutorConfig
    from opendgm.cluster.executor import RayExecutor

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # this script is not importable on the nodes
    with local_cluster(address) as reached, GitStore.scratch() as store:
        executor = RayExecutor(ExecutorConfig(kind="ray", address=reached))
        try:
            slots = int(ray.cluster_resources().get("CPU", 1))
            tree = store.commit_dir(agent_source("seed"), None, "seed")[1]
            job = (CodeRef(tree, executor.put(store.pack_tree(tree))), Models({"agent": ROLE}, RetryPolicy(),
                                                                               BudgetLimits()))  # fmt: skip
            where = set(ran(executor, [(*job, 0.0)] * 2 * slots))  # worker processes start once, before the runs
            ray_s = timed(lambda: ran(executor, [(*job, task_s)] * tasks))
            half = max(1, tasks // 2)
            one_s = timed(lambda: [ran(executor, [(*job, task_s)]) for _ in range(half)])  # one at a time: one node
        finally:
            executor.shutdown()
    local = LocalExecutor(slots)
    local_s = timed(lambda: list(local.map_unordered(sleep_task, [task_s] * tasks)))
    local.shutdown()
    return {
        "slots": slots, "local_s": local_s, "ray_s": ray_s, "overhead_per_task_s": (ray_s - local_s) / (tasks / slots),
        "nodes_seen": len(where), "one_node_per_min": 60 * half / one_s, "two_nodes_per_min": 60 * tasks / ray_s,
    }  # fmt: skip


class SimulatedCluster:
    """`nodes` nodes as threads: each unit sleeps `task_s` on one of them and comes back as a resolved task."""

    remote = True

    def __init__(self, nodes: int, task_s: float) -> None:
        self.nodes, self.task_s = nodes, task_s
        self._pool = ThreadPoolExecutor(nodes, thread_name_prefix="sim-node")
        self._local = threading.local()

    def put(self, value: object) -> object:
        return value

    def _run(self, unit: TaskUnit) -> Report:
        time.sleep(self.task_s)
        where = threading.current_thread().name
        outcome = TaskOutcome(unit.task_id, "resolved", tests_passed=1, patch="+x\n", trajectory=b"{}\n")
        return Report(where, self.task_s, [], outcome=outcome)

    def map_unordered(self, _work: Callable[[Any], Any], items: Iterable[TaskUnit]) -> Iterator[tuple[Any, Any]]:
        futures = {self._pool.submit(self._run, unit): unit for unit in items}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def shutdown(self) -> None:
        self._pool.shutdown()


def simulated(nodes: int, task_s: float, root: Path) -> dict[str, float]:
    """Part 2: the head's real per-unit work against a simulated cluster of `nodes` nodes (3 units per node)."""
    evaluator = HumanEval()
    tasks = evaluator.tasks()
    units = 3 * nodes
    with Archive.create(root / f"sim-{nodes}", "bench") as archive:
        runs = ClusterRuns(SimulatedCluster(nodes, task_s), {}, Sandboxing("local", DEFAULT_IMAGE, 2048))  # type: ignore[arg-type]
        gateway = SimpleNamespace(router=Router({"agent": ROLE}))
        batches = []
        for index in range(0, units, len(tasks)):  # one agent per batch of distinct tasks
            with tempfile.TemporaryDirectory() as code:
                (Path(code) / "agent.py").write_text(f"# agent {index}\n")
                node = archive.add_agent(code, operator="import").id
            batches.append((node, tasks[: min(len(tasks), units - index)]))
        cpu, started = time.thread_time(), time.perf_counter()
        for node, batch in batches:
            evaluate_tasks(archive, node, evaluator, batch, EvaluationContext(gateway=gateway, executor=runs))  # type: ignore[arg-type]
        wall, head_cpu = time.perf_counter() - started, time.thread_time() - cpu
        recorded = sum(len(archive.results(node)) for node, _ in batches)
        runs.shutdown()
    ideal = task_s * units / nodes
    return {"units": units, "recorded": recorded, "head_ms_per_unit": 1000 * head_cpu / units, "wall_s": wall,
            "ideal_s": ideal}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20, help="tasks in the stage (part 1)")
    parser.add_argument("--task-s", type=float, default=5.0, help="seconds each task takes (part 1)")
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 50, 100], help="simulated cluster sizes")
    parser.add_argument("--sim-task-s", type=float, default=0.2, help="seconds a simulated unit takes")
    parser.add_argument("--skip-real", action="store_true", help="only the simulated part (no Ray cluster)")
    parser.add_argument("--address", help="use this running cluster for part 1 (default: start a two-node one)")
    args = parser.parse_args(argv)
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run")
    figures: dict[str, Any] = {}
    if not args.skip_real:
        real = real_cluster(args.tasks, args.task_s, args.address)
        figures["real"] = real
        share = real["overhead_per_task_s"] / args.task_s
        print(f"1. {args.tasks} tasks of {args.task_s:g} s: local executor ({real['slots']} threads, baseline) "
              f"{real['local_s']:.2f} s; Ray, {real['nodes_seen']} nodes {real['ray_s']:.2f} s")  # fmt: skip
        verdict = "met" if share < GOAL else "NOT met"
        print(f"   overhead Ray adds per task: {real['overhead_per_task_s'] * 1000:.0f} ms = {100 * share:.2f}% of a"
              f" task's wall time (goal < {100 * GOAL:g}%): {verdict}")  # fmt: skip
        one, two = real["one_node_per_min"], real["two_nodes_per_min"]
        at_once = f"{real['slots']} at once {two:.1f} tasks/min ({two / one:.2f}x; reported, not asserted)"
        print(f"   throughput: one at a time {one:.1f} tasks/min, {at_once}")
    with tempfile.TemporaryDirectory(prefix="odgm-bench-") as tmp:
        sims = {nodes: simulated(nodes, args.sim_task_s, Path(tmp)) for nodes in args.nodes}
    figures["simulated"] = sims
    base = sims[args.nodes[0]]["head_ms_per_unit"]
    print(f"2. simulated cluster, units of {args.sim_task_s:g} s, 3 per node; head CPU per unit against "
          f"{args.nodes[0]} nodes (baseline):")  # fmt: skip
    for nodes, sim in sims.items():
        head_ms, wall_ms = sim["head_ms_per_unit"], 1000 * sim["wall_s"] / sim["units"]
        print(f"   {nodes:4d} nodes: {sim['units']} units ({sim['recorded']} recorded), head {head_ms:.2f} ms/unit"
              f" ({head_ms / base:.2f}x baseline), wall {sim['wall_s']:.2f} s ({wall_ms:.0f} ms/unit) vs ideal"
              f" {sim['ideal_s']:.2f} s")  # fmt: skip
    return figures


if __name__ == "__main__":
    main()
