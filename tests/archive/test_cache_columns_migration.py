"""An archive written before the ledger recorded prompt-cache tokens (schema version 4, made by that code: see
tests/fixtures/archives/make_v4_archive.py) opens, migrates, keeps every call and its totals, and records the new
columns from then on."""

from __future__ import annotations

import sqlite3
import tarfile
from contextlib import closing
from pathlib import Path

import pytest

from opendgm.archive import SCHEMA_VERSION, Archive, ArchiveError
from opendgm.llm.ledger import CallRecord

FIXTURE = Path(__file__).parents[1] / "fixtures" / "archives" / "v4-campaign.tar.gz"


@pytest.fixture
def old_campaign(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "campaign"


def _raw(campaign: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(campaign / "archive.sqlite")) as conn:
        return conn.execute(sql).fetchall()


def test_a_version_4_archive_gains_the_cache_columns_and_keeps_its_books(old_campaign: Path) -> None:
    assert _raw(old_campaign, "PRAGMA user_version") == [(4,)]
    before = _raw(
        old_campaign, "SELECT id, outcome, prompt_tokens, completion_tokens, cost_usd FROM llm_calls ORDER BY id"
    )
    with pytest.raises(ArchiveError, match=r"older than .*open it once for writing"):
        Archive.open(old_campaign, readonly=True)

    with Archive.open(old_campaign) as archive:
        calls = archive.ledger.calls()
        totals = archive.ledger.totals()
        archive.ledger.record(
            CallRecord("v4", "n0003", "agent", "agent t3", "m", "ok", 2000, 10, 0.002, cache_read_tokens=1800)
        )
        after = archive.ledger.totals()

    assert _raw(old_campaign, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert sorted((c.id, c.prompt_tokens, c.completion_tokens, c.cost_usd) for c in calls) == [
        (row[0], row[2], row[3], row[4]) for row in before
    ]
    assert {(c.cache_read_tokens, c.cache_write_tokens) for c in calls} == {(0, 0)}
    assert [c.outcome for c in calls].count("interrupted") == 1  # the pending call, settled by the writer
    assert (totals.calls, totals.cost_usd) == (len(before), pytest.approx(sum(row[4] for row in before)))
    assert (after.cache_read_tokens, after.cache_write_tokens, after.calls) == (1800, 0, totals.calls + 1)
    with Archive.open(old_campaign, readonly=True) as reader:
        assert reader.ledger.calls()[-1].cache_read_tokens == 1800
