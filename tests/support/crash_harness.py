"""Kill a campaign at random moments, resume it, and compare it with an uninterrupted run (invariant 3: state
durable before it is acted on).

Shared by `tests/evolve/test_crash_resume.py` (a few kills) and `benchmarks/crash_resume.py` (many).
The scripted model is served by the calling process, so it outlives every killed campaign; the campaign
runs in a child process of its own session, and a kill is SIGKILL to that session's process group
(the campaign and the git processes it may have in flight: what a crash of the host process takes down).
The checks read the archive directly with SQLite where a guarantee is about rows (duplicates, ledger ids,
integrity), and through the Archive API where it is about the campaign's meaning (nodes, scores).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from opendgm.archive import Archive
from opendgm.evolve.config import CampaignConfig
from opendgm.sandbox.owner import LABEL_CAMPAIGN, LABEL_OWNED
from tests.evolve.test_campaign import config
from tests.support.scripted_models import CapabilityScript

# The child: one campaign run on a directory (a fresh one starts it, an existing one resumes it).
RUNNER = (
    "import sys; from pathlib import Path; from opendgm.evolve.campaign import run_campaign; "
    "from opendgm.evolve.config import CampaignConfig; "
    "print(run_campaign(CampaignConfig.model_validate_json(Path(sys.argv[1]).read_text()), Path(sys.argv[2])))"
)
NodeRow = tuple[str, str, str | None, str, str | None]  # id, kind, parent, status, code hash
ResultKey = tuple[str, str, str, str, int]  # code hash, evaluator, version, task, attempt


def crash_config(script: CapabilityScript, backend: str, generations: int) -> CampaignConfig:
    """The scripted campaign of test_campaign, under a campaign name of its own (its containers' label)."""
    return config(script, backend, name=f"crash-{uuid.uuid4().hex[:8]}", generations=generations)


@dataclass(frozen=True)
class Snapshot:
    """What a campaign directory holds, as far as the crash guarantees are concerned."""

    nodes: tuple[NodeRow, ...] = ()
    scores: tuple[tuple[str, str, int, int, int], ...] = ()  # node, stage, tasks, done, resolved
    result_keys: tuple[ResultKey, ...] = ()  # every row, duplicates included
    ledger_ids: frozenset[str] = frozenset()
    interrupted: int = 0  # calls in flight at a kill, settled on the next open
    integrity: str = "no archive"


def snapshot(root: Path) -> Snapshot:
    """Read a campaign directory whose writer is gone (killed or finished)."""
    database = root / "archive.sqlite"
    if not database.exists():  # killed before the archive was created
        return Snapshot()
    with Archive.open(root, readonly=True) as archive, archive.snapshot():
        nodes = archive.nodes()
        rows = tuple((n.id, n.kind, n.parent_id, n.status, n.code_hash) for n in nodes)
        scores = tuple((n.id, s.stage, s.n_tasks, s.n_done, s.n_resolved) for n in nodes for s in archive.scores(n.id))
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        keys = conn.execute("SELECT code_hash, evaluator, evaluator_version, task_id, attempt FROM results")
        result_keys = tuple(sorted(keys.fetchall()))
        ledger = frozenset(row[0] for row in conn.execute("SELECT id FROM llm_calls"))
        interrupted = conn.execute("SELECT COUNT(*) FROM llm_calls WHERE outcome = 'interrupted'").fetchone()[0]
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return Snapshot(rows, scores, result_keys, ledger, interrupted, integrity)


def leftover_containers(campaign: str) -> list[str]:
    """The campaign's containers that still exist (other campaigns' containers are not ours to judge)."""
    listed = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={LABEL_OWNED}=1", "--filter", f"label={LABEL_CAMPAIGN}={campaign}",
         "--format", "{{.Names}}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return listed.stdout.split()


@dataclass(frozen=True)
class Finished:
    """A child run that ended by itself: its exit code, the stop reason it printed, how long it took,
    and how much of that was start-up (spawn to its first node: imports, archive, gateway, image check)."""

    code: int
    reason: str
    duration_s: float
    startup_s: float
    call_offsets: tuple[float, ...]  # when each of its model calls was recorded, seconds after spawn


class CampaignProcess:
    """Runs the campaign of `config` on `root` in child processes, one after another."""

    def __init__(self, config: CampaignConfig, root: Path) -> None:
        self.root, self.campaign, self.config = root, config.name, config
        self.config_path = root.parent / f"{root.name}.json"
        self.config_path.write_text(config.model_dump_json())
        self.log_path = root.parent / f"{root.name}.log"

    def start(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-c", RUNNER, str(self.config_path), str(self.root)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def run(self, timeout_s: float) -> Finished:
        """An uninterrupted run (killed only past `timeout_s`)."""
        spawned, started = time.time(), time.monotonic()
        child = self.start()
        try:
            code = child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            kill(child)
            code = -signal.SIGKILL
        duration = time.monotonic() - started
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        with Archive.open(self.root, readonly=True) as archive:
            first_node = min((node.created_at for node in archive.nodes()), default=spawned + duration)
            calls = tuple(sorted(call.ts - spawned for call in archive.ledger.calls()))
        return Finished(code, lines[-1] if lines else "", duration, first_node - spawned, calls)


def kill(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (the session it leads), then collect its exit status."""
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()


@dataclass
class CrashRun:
    """The outcome of a campaign killed `kills` times and resumed until it finished."""

    campaign: str
    kills: int = 0
    resumes: int = 0
    unexpected_exits: list[int] = field(default_factory=list)  # a child that died on its own, not finished
    ledger_at_kills: list[frozenset[str]] = field(default_factory=list)
    final_code: int = 0
    reason: str = ""
    final: Snapshot = field(default_factory=Snapshot)
    leftovers: list[str] = field(default_factory=list)
    calls_served: int = 0


def kill_moments(kills: int, reference: Finished, seed: int) -> list[float]:
    """Seeded moments of the reference run, uniform over its duration, at which to kill (sorted)."""
    rng = random.Random(seed)
    return sorted(rng.uniform(0, reference.duration_s) for _ in range(kills))


def lifetime(moment: float, reference: Finished, recorded: int, spare: float) -> float:
    """How long the next child lives so that it dies near `moment` of the reference run.

    Progress is read from the ledger: with `recorded` rows, the campaign is where the reference was at
    its `recorded`-th call (redone calls make this an over-estimate, never an under-estimate). A child
    first pays the reference's start-up; a moment already passed gets a random `spare` of work instead.
    """
    offsets = reference.call_offsets
    position = offsets[min(recorded, len(offsets)) - 1] if recorded else reference.startup_s
    return reference.startup_s + (moment - position if moment > position else spare)


def crash_and_resume(
    process: CampaignProcess, script: CapabilityScript, reference: Finished, kills: int, seed: int, timeout_s: float
) -> CrashRun:
    """Kill the campaign at each moment, resume it each time, then let the last run finish."""
    run, served_before, rng = CrashRun(process.campaign), script.count, random.Random(f"{seed}:spare")
    for moment in kill_moments(kills, reference, seed):
        recorded = len(run.ledger_at_kills[-1]) if run.ledger_at_kills else 0
        child = process.start()
        try:
            code = child.wait(lifetime(moment, reference, recorded, rng.uniform(0, reference.duration_s / kills)))
        except subprocess.TimeoutExpired:
            kill(child)
            run.kills += 1
            run.resumes += 1
            run.ledger_at_kills.append(snapshot(process.root).ledger_ids)
            continue
        if code != 0:
            run.unexpected_exits.append(code)
        break  # it finished (or died) before the moment came: nothing left to kill
    finished = process.run(timeout_s)
    run.final_code, run.reason = finished.code, finished.reason
    run.final = snapshot(process.root)
    run.leftovers = leftover_containers(run.campaign) if process.config.sandbox.backend == "docker" else []
    run.calls_served = script.count - served_before
    return run


def violations(reference: Snapshot, run: CrashRun, generations: int) -> list[str]:
    """Every way the killed-and-resumed campaign differs from the uninterrupted one."""
    final, problems = run.final, []
    if run.final_code != 0 or run.reason != f"done: {generations} generations":
        problems.append(f"the last run ended with code {run.final_code}: {run.reason!r}")
    if run.unexpected_exits:
        problems.append(f"children exited on their own with codes {run.unexpected_exits}")
    if final.nodes != reference.nodes:
        problems.append(f"nodes differ:\n  reference {reference.nodes}\n  resumed   {final.nodes}")
    duplicates = len(final.result_keys) - len(set(final.result_keys))
    if duplicates:
        problems.append(f"{duplicates} duplicate per-task results")
    if set(final.result_keys) != set(reference.result_keys):
        problems.append("per-task result keys differ from the reference run")
    for index, ledger in enumerate(run.ledger_at_kills, 1):
        if lost := ledger - final.ledger_ids:
            problems.append(f"{len(lost)} ledger rows present at kill {index} are gone at the end")
    if (unrecorded := run.calls_served - len(final.ledger_ids)) > 0:  # each call is recorded before it is sent
        problems.append(f"{unrecorded} model calls were served but have no ledger row")
    if final.scores != reference.scores:
        problems.append(f"scores differ:\n  reference {reference.scores}\n  resumed   {final.scores}")
    if final.integrity != "ok":
        problems.append(f"PRAGMA integrity_check: {final.integrity}")
    if run.leftovers:
        problems.append(f"containers left behind: {run.leftovers}")
    return problems


def counts(reference: Snapshot, run: CrashRun) -> dict[str, str]:
    """The figures a report shows beside the violations ("resumed / reference" where both exist)."""
    final = run.final
    return {
        "kills": str(run.kills),
        "resumes": str(run.resumes),
        "nodes": f"{len(final.nodes)} / {len(reference.nodes)}",
        "per-task results": f"{len(final.result_keys)} / {len(reference.result_keys)}",
        "duplicate results": str(len(final.result_keys) - len(set(final.result_keys))),
        "ledger rows at the last kill": str(len(run.ledger_at_kills[-1]) if run.ledger_at_kills else 0),
        "ledger rows at the end": f"{len(final.ledger_ids)} / {len(reference.ledger_ids)}",
        "model calls served, never recorded": str(max(0, run.calls_served - len(final.ledger_ids))),
        "model calls settled as interrupted": str(final.interrupted),
        "leftover containers": str(len(run.leftovers)),
    }
