"""On a worker node: run one unit with the node's own sandbox backend, code cache and gateway.

The gateway's router reads API keys from this node's environment (the role names the variable); the sandbox gets
a gateway token, never a key; the ledger rows of the unit's calls go back to the head, which alone writes the
archive.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ray

from opendgm.archive import CodeTree, GitStore
from opendgm.cluster.units import CodeRef, EvaluatorRef, Models, ModifyUnit, Report, TaskUnit, ValidateUnit
from opendgm.evaluators import Evaluator, Task, TaskRunner, registry, self_modification
from opendgm.llm import Gateway, MemoryLedger, Router
from opendgm.sandbox import choose_backend, reachable_scratch

CACHE_VARIABLE = "OPENDGM_CLUSTER_CACHE"  # where a node keeps agent code by hash (default: the temp folder)


def cache_store() -> GitStore:
    """This node's store of agent code, shared by its workers (created once, under a lock)."""
    root = Path(os.environ.get(CACHE_VARIABLE) or Path(tempfile.gettempdir()) / "opendgm-cluster-cache")
    root.mkdir(parents=True, exist_ok=True)
    git_dir = root / "agents.git"
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (git_dir / "HEAD").exists():
            return GitStore.init(git_dir)
    return GitStore(git_dir)


def code(ref: CodeRef) -> CodeTree:
    """The agent's code in this node's cache, fetched from the head's pack only if the node lacks it."""
    store = cache_store()
    if store.missing([ref.tree]):
        store.unpack(ray.get(ref.pack))
    return CodeTree(store, ref.tree)


def checkout(ref: CodeRef, dest: Path) -> Path:
    code(ref).store.materialize(ref.tree, dest)
    return dest


@functools.cache
def _evaluator(name: str, options: str) -> Evaluator:
    return registry.load(name, **json.loads(options))


def evaluator(ref: EvaluatorRef) -> Evaluator:
    """The unit's evaluator, loaded once per worker process; a node with another version refuses the unit."""
    loaded = _evaluator(ref.key.name, json.dumps(ref.options, sort_keys=True))
    if loaded.version != ref.key.version:
        raise RuntimeError(
            f"evaluator {ref.key.name} is version {loaded.version} on this node, {ref.key.version} on the head: "
            "install the same opendgm on every node"
        )
    return loaded


@functools.cache
def _tasks(name: str, options: str) -> dict[str, Task]:
    return {task.id: task for task in _evaluator(name, options).tasks()}


@contextmanager
def gateway(models: Models, campaign: str) -> Iterator[tuple[Gateway, MemoryLedger]]:
    """A gateway of this node for one unit, and the ledger its calls are recorded in (sent back to the head)."""
    ledger = MemoryLedger()
    router = Router(
        models.roles, ledger=ledger, campaign=campaign, limits=models.limits, retry=models.retry, budget=models.budget
    )
    with reachable_scratch(prefix="odgm-gw-") as folder, Gateway(router, folder / "gateway.sock") as serving:
        yield serving, ledger


def where() -> str:
    context = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()}/{context.get_node_id()[:8]}"


def run_task(unit: TaskUnit) -> Report:
    started = time.monotonic()
    grader = evaluator(unit.evaluator)
    task = _tasks(unit.evaluator.key.name, json.dumps(unit.evaluator.options, sort_keys=True))[unit.task_id]
    with reachable_scratch(prefix="opendgm-agent-") as scratch, gateway(unit.models, unit.campaign) as (gw, ledger):
        runner = TaskRunner(
            grader, checkout(unit.code, scratch / "agent"), gw, node=unit.node,
            backend=choose_backend(unit.sandbox.backend), campaign=unit.campaign, memory_mb=unit.sandbox.memory_mb,
        )  # fmt: skip
        outcome = runner.run(task)
    return Report(where(), time.monotonic() - started, ledger.calls(), outcome=outcome)


def run_modify(unit: ModifyUnit) -> Report:
    started = time.monotonic()
    with (
        reachable_scratch(prefix="opendgm-child-") as scratch,
        gateway(unit.models, unit.campaign) as (gw, ledger),
        GitStore.scratch() as store,
    ):
        runner = TaskRunner(
            self_modification.own_code(code(unit.parent)), checkout(unit.runner, scratch / "parent"), gw,
            node=unit.child, backend=choose_backend(unit.sandbox.backend), campaign=unit.campaign,
            max_steps=unit.max_steps, memory_mb=unit.sandbox.memory_mb, role=unit.role,
        )  # fmt: skip
        run = runner.run_agent(unit.task, purpose="self_improve", store=store)
        pack = store.pack_tree(run.tree) if run.tree else b""
    return Report(where(), time.monotonic() - started, ledger.calls(), run=run, pack=pack)


def run_validate(unit: ValidateUnit) -> Report:
    started = time.monotonic()
    with reachable_scratch() as scratch:
        self_modification.validate(
            checkout(unit.code, scratch / "agent"), choose_backend(unit.sandbox.backend), unit.sandbox.image,
            unit.campaign, unit.self_test, unit.sandbox.memory_mb,
        )  # fmt: skip
    return Report(where(), time.monotonic() - started)
