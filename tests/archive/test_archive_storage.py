"""Artifacts (gzipped when large, read back transparently) and the archive-backed LLM ledger."""

from __future__ import annotations

import dataclasses
import gzip
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from opendgm.archive import GZIP_THRESHOLD, Archive, ArchiveError, ArchiveLedger
from opendgm.llm.ledger import CallRecord, Ledger, Totals
from tests.support.archive_helpers import write_tree


def test_small_artifacts_stay_plain_and_large_ones_are_gzipped(archive: Archive) -> None:
    store = archive.artifacts
    small = "step 1\n" * 10
    large = "".join(f'{{"step": {i}, "tool": "bash", "output": "ok"}}\n' for i in range(GZIP_THRESHOLD // 40 + 10))
    assert store.put("n0001/humaneval/t1/log.txt", small) == "n0001/humaneval/t1/log.txt"
    assert store.put("n0001/humaneval/t1/trajectory.jsonl", large) == "n0001/humaneval/t1/trajectory.jsonl"
    assert store.path("n0001/humaneval/t1/log.txt").name == "log.txt"
    packed = store.path("n0001/humaneval/t1/trajectory.jsonl")
    assert packed.name == "trajectory.jsonl.gz" and packed.stat().st_size < len(large) // 5
    assert gzip.decompress(packed.read_bytes()).decode() == large
    assert store.read_text("n0001/humaneval/t1/trajectory.jsonl") == large
    assert store.read_text("n0001/humaneval/t1/log.txt") == small
    with store.open("n0001/humaneval/t1/trajectory.jsonl") as stream:
        assert stream.readline() == b'{"step": 0, "tool": "bash", "output": "ok"}\n'
    # Replacing a large artifact with a small one leaves one file, the new one.
    store.put("n0001/humaneval/t1/trajectory.jsonl", b"short\n")
    assert sorted(p.name for p in packed.parent.iterdir()) == ["log.txt", "trajectory.jsonl"]
    assert store.read_bytes("n0001/humaneval/t1/trajectory.jsonl") == b"short\n"


def test_put_file_streams_a_sandbox_log_in(archive: Archive, tmp_path: Path) -> None:
    source = tmp_path / "run.log"
    source.write_bytes(os.urandom(GZIP_THRESHOLD) + b"tail")  # incompressible, still stored gzipped
    archive.artifacts.put_file("logs/run.log", source)
    assert archive.artifacts.read_bytes("logs/run.log") == source.read_bytes()
    assert archive.artifacts.exists("logs/run.log") and not archive.artifacts.exists("logs/other.log")


def test_artifact_paths_cannot_escape_the_store(archive: Archive) -> None:
    for bad in ("../escape.txt", "/etc/passwd", "", "a/../../b"):
        with pytest.raises(ArchiveError, match="must be relative"):
            archive.artifacts.put(bad, "x")
    with pytest.raises(ArchiveError, match=r"no artifact 'missing\.txt'"):
        archive.artifacts.read_text("missing.txt")


def test_archive_ledger_satisfies_the_protocol_and_prices_nodes(archive: Archive, tmp_path: Path) -> None:
    node = archive.add_agent(write_tree(tmp_path / "code", {"a.py": "1\n"})).id
    ledger: Ledger = archive.ledger
    assert isinstance(archive.ledger, ArchiveLedger)
    calls = [
        CallRecord(archive.campaign, node, "self_improve", "diagnose", "m", "ok", 100, 20, 0.01, 1.5, 1),
        CallRecord(archive.campaign, node, "agent", "task t1", "m", "error", error_class="RateLimited", error="429"),
        CallRecord(archive.campaign, None, "meta", "selection", "m", "ok", 10, 5, 0.001),
        CallRecord("other-campaign", node, "agent", "x", "m", "refused"),
    ]
    for call in calls:
        ledger.record(call)
    ledger.record(calls[0])  # recorded again after a crash: still one row
    assert archive.cost(node) == Totals(calls=3, errors=2, prompt_tokens=100, completion_tokens=20, cost_usd=0.01)
    assert ledger.totals(campaign=archive.campaign) == Totals(3, 1, 110, 25, pytest.approx(0.011))
    assert ledger.totals().calls == 4
    assert archive.ledger.calls(node=node, campaign=archive.campaign) == calls[:2]


def test_ledger_table_has_a_column_for_every_call_record_field(archive: Archive) -> None:
    """When `CallRecord` grows a field, this fails until a migration adds its column."""
    with closing(sqlite3.connect(archive.root / "archive.sqlite")) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(llm_calls)")}
    assert {f.name for f in dataclasses.fields(CallRecord)} <= columns
