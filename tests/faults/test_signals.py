"""Issue 13, SIGTERM and SIGHUP: what batch schedulers, `docker stop` and a closed terminal send. The first
behaves like Ctrl-C (the work in flight finishes, the stop is recorded, our containers go, no ledger row is left
pending) and `opendgm run` exits 128 + the signal's number; a second one stops at once, as cleanly. A resume then
finishes the campaign."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from opendgm.archive import Archive
from tests.evolve.test_campaign import config as scripted_config
from tests.support.crash_harness import leftover_containers
from tests.support.fault_models import FaultyScript

pytestmark = pytest.mark.docker


def _start(config_path: Path, root: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "opendgm.cli", "run", str(config_path), "--dir", str(root)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ | {"COLUMNS": "200"},
        )  # fmt: skip


def _wait_for_child_node(process: subprocess.Popen[bytes], root: Path, log: Path) -> None:
    deadline = time.monotonic() + 300
    while True:
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        if (root / "archive.sqlite").exists():
            with Archive.open(root, readonly=True) as archive:
                if any(node.operator == "self_improve" for node in archive.nodes(kind="agent")):
                    return
        time.sleep(0.2)


def _pending_rows(root: Path) -> int:
    with closing(sqlite3.connect(f"file:{root / 'archive.sqlite'}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT COUNT(*) FROM llm_calls WHERE outcome = 'pending'").fetchone()[0]


def _stops(root: Path) -> list[dict]:
    with Archive.open(root, readonly=True) as archive:
        return [e.data for e in archive.events() if e.kind == "campaign_stopped"]


def test_sigterm_and_a_double_sighup_stop_cleanly_with_their_exit_codes(
    faulty: FaultyScript, docker_engine: str, tmp_path: Path
) -> None:
    # Two generations: the first SIGTERM lets the child in flight finish (it may be the first generation's last
    # work on a slow machine), so the resumes below always have work left.
    name, stages = f"signals-{os.getpid()}", [{"subset": "HumanEval_0"}]
    config = scripted_config(faulty, "docker", name=name, stages=stages, generations=2)
    config_path, root, log = tmp_path / "c.yaml", tmp_path / "c", tmp_path / "c.log"
    config_path.write_text(config.model_dump_json())

    process = _start(config_path, root, log)
    _wait_for_child_node(process, root, log)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=240) == 143, log.read_text()
    assert "stopped on request (SIGTERM)" in log.read_text()
    assert _stops(root)[-1]["exit_code"] == 143
    assert leftover_containers(config.name) == [] and _pending_rows(root) == 0

    # A second signal stops at once: the agent in flight (hung on its model) is abandoned, not waited for.
    faulty.inject("any", "hang", count=1000)
    process = _start(config_path, root, log)
    while not faulty.fired:  # the resumed run is waiting on the hung provider
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    process.send_signal(signal.SIGHUP)
    time.sleep(1)
    started = time.monotonic()
    process.send_signal(signal.SIGHUP)
    assert process.wait(timeout=60) == 129, log.read_text()
    assert time.monotonic() - started < 60
    assert _stops(root)[-1]["exit_code"] == 129
    assert leftover_containers(config.name) == [] and _pending_rows(root) == 0

    faulty.injections.clear()
    faulty.hang_s = 0
    process = _start(config_path, root, log)
    assert process.wait(timeout=300) == 0, log.read_text()
    with Archive.open(root, readonly=True) as archive:
        seed, first, *later = archive.nodes(kind="agent")
        assert (seed.status, first.status) == ("evaluated", "evaluated")
        # the scripted model repeats its fix: a second-generation child that changes nothing is that verdict
        assert all(n.status == "evaluated" or "left the code unchanged" in str(n.status_reason) for n in later)
        keys = [(r.code_hash, r.task_id, r.attempt) for n in archive.nodes(kind="agent") for r in archive.results(n.id)]
        assert len(keys) == len(set(keys))
