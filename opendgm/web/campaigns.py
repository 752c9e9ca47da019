"""The campaigns a dashboard serves: stable names for directories, opened read-only per request.

Opening per request (one SQLite connection, one `git rev-parse`) keeps the dashboard a pure reader
that notices a campaign directory being replaced, and never holds anything the writer waits on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from opendgm.archive import Archive, ArchiveError, SummaryCache
from opendgm.web.views import NotFound

_summaries: dict[tuple[Path, str], SummaryCache] = {}  # kept across requests, per campaign directory


class Unavailable(Exception):
    """A campaign the dashboard cannot read (missing, corrupt, newer schema): answered with 503."""


def name_campaigns(dirs: Sequence[Path]) -> dict[str, Path]:
    """URL-safe names from the directory names, numbered when two directories share one."""
    named: dict[str, Path] = {}
    for path in dirs:
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in path.resolve().name) or "campaign"
        name, number = base, 2
        while name in named:
            name, number = f"{base}-{number}", number + 1
        named[name] = path
    return named


@contextmanager
def reading(campaigns: dict[str, Path], name: str, check_code: bool = True) -> Iterator[Archive]:
    """The named campaign opened read-only for the duration of one request (`check_code`: see `Archive.open`;
    a view that never reads agents' code skips it)."""
    if name not in campaigns:
        raise NotFound(f"no campaign {name!r} is served here")
    try:
        archive = Archive.open(campaigns[name], readonly=True, check_code=check_code)
    except ArchiveError as error:
        raise Unavailable(f"campaign {name!r} unavailable: {error}") from None
    with archive:
        key = (campaigns[name], archive.meta().get("created_at", ""))  # a replaced directory gets a new cache
        archive.keep_summaries_in(_summaries.setdefault(key, SummaryCache()))
        yield archive
