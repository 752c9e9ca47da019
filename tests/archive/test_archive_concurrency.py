"""One writer used from many threads; readers (threads and processes) that see consistent snapshots
while it writes, and never fail with "database is locked"."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from tests.support.archive_helpers import write_tree

TASKS = [f"t{i}" for i in range(5)]
WORKERS, NODES_PER_WORKER = 4, 12

# A reader process: for a while, in one snapshot per round, the node rows and their `node_added` events
# (written in the same transaction) must agree, and every stage must be coherent.
READER = """
import sys, time
from opendgm.archive import Archive
reader = Archive.open(sys.argv[1], readonly=True)
rounds, deadline = 0, time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline or rounds < 20:
    with reader.snapshot():
        nodes = reader.nodes()
        added = [e for e in reader.events() if e.kind == "node_added"]
        summaries = reader.summaries()
    assert len(nodes) == len(added) == len(summaries), (len(nodes), len(added), len(summaries))
    assert all(s.n_done <= s.n_tasks and s.n_resolved <= s.n_done for s in summaries)
    rounds += 1
print(rounds, len(nodes))
"""


def _write_from_threads(archive: Archive, parent: str, code_root: Path) -> list[BaseException]:
    """WORKERS threads each add agents and record their stage and results through one writer."""
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for index in range(NODES_PER_WORKER):
                code = write_tree(code_root / f"w{worker}", {"agent.py": f"v = {worker * 100 + index}\n"})
                node = archive.add_agent(code, parent, operator=f"worker{worker}")
                archive.set_status(node.id, "evaluating")
                archive.record_stage(node.id, "eval", "1", "small", TASKS)
                for task in TASKS:
                    archive.record_result(
                        ResultRecord(
                            node.id, EvaluatorKey("eval", "1"), task, status="resolved" if index % 2 else "unresolved"
                        )
                    )
                archive.set_status(node.id, "evaluated")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_readers_see_consistent_snapshots_while_threads_write(archive: Archive, campaign_dir: Path, tmp_path: Path):
    root = archive.add_agent(write_tree(tmp_path / "root", {"agent.py": "v = 0\n"})).id
    process = subprocess.Popen(
        [sys.executable, "-c", READER, str(campaign_dir), "2.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    thread_rounds: list[int] = []
    thread_errors: list[BaseException] = []
    stop = threading.Event()

    def read_in_thread() -> None:
        with Archive.open(campaign_dir, readonly=True) as reader:
            try:
                while not stop.is_set():
                    with reader.snapshot():
                        assert len(reader.nodes()) == len(reader.summaries())
                        graph = reader.graph()
                    assert all(graph.nodes[node]["depth"] <= 1 for node in graph)
                    thread_rounds.append(len(graph))
            except BaseException as error:
                thread_errors.append(error)

    reader_thread = threading.Thread(target=read_in_thread)
    reader_thread.start()
    time.sleep(0.3)  # let the process reader start reading before the writes begin
    failures = _write_from_threads(archive, root, tmp_path / "code")
    stop.set()
    reader_thread.join()
    out, err = process.communicate(timeout=60)

    assert failures == [] and thread_errors == []
    assert process.returncode == 0, err
    assert "locked" not in err
    rounds, last_seen = map(int, out.split())
    assert rounds >= 20 and 1 <= last_seen <= 1 + WORKERS * NODES_PER_WORKER
    assert len(thread_rounds) > 5 and thread_rounds == sorted(thread_rounds)  # the reader saw the archive grow

    nodes = archive.nodes()
    assert len(nodes) == 1 + WORKERS * NODES_PER_WORKER
    assert [node.seq for node in nodes] == list(range(1, len(nodes) + 1))
    summaries = archive.summaries()[1:]
    assert all((s.n_tasks, s.n_done) == (5, 5) and s.status == "evaluated" for s in summaries)
    assert sum(s.n_resolved for s in summaries) == WORKERS * (NODES_PER_WORKER // 2) * len(TASKS)


def test_a_second_writer_process_is_refused_clearly(archive: Archive, campaign_dir: Path) -> None:
    attempt = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from opendgm.archive import Archive; Archive.open(sys.argv[1])",
            campaign_dir,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert attempt.returncode != 0
    assert "ArchiveError" in attempt.stderr and "already open for writing" in attempt.stderr
