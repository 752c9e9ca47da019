"""`opendgm doctor DIR`: what is wrong with a campaign archive, and the repairs that are safe.

It reads the database with SQLite's own `PRAGMA integrity_check`, looks for the git objects of every node,
node refs that differ from the rows, tallies that differ from the results they derive from, model calls
left pending, and temporary folders a killed run left. `repair` does only what loses nothing: settle the
pending calls, remove our orphaned temporary folders and half-written artifacts, rebuild the tallies from
the results, restore node refs from their commits. It never deletes a result or a node.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from opendgm.archive.archive import AGENTS_GIT, ARCHIVE_DB, ARTIFACTS, WRITER_LOCK, Archive
from opendgm.archive.errors import ArchiveError
from opendgm.archive.gitstore import GitStore
from opendgm.archive.schema import REBUILD_TALLIES
from opendgm.llm import PENDING
from opendgm.sandbox import reap_folders

_TALLY_COLUMNS = {"stage_tallies": "stage_id, n_done, n_resolved",
                  "code_tallies": "code_hash, evaluator, evaluator_version, passes, fails"}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    check: str  # integrity | code | refs | tallies | ledger | temporary
    detail: str
    repairable: bool


def _staging(root: Path) -> list[Path]:
    """Half-made archives `Archive.create` leaves beside `root` when killed before its rename."""
    pattern = re.compile(rf"^\.{re.escape(root.name)}\.creating-[0-9a-f]{{8}}$")
    return sorted(p for p in root.parent.iterdir() if pattern.match(p.name))


def examine(root: Path) -> list[Finding]:
    """Every problem found; an empty list means the archive is sound."""
    if not (root / ARCHIVE_DB).exists() or not (root / AGENTS_GIT).exists():
        raise ArchiveError(f"{root} is not an opendgm campaign archive (no {ARCHIVE_DB} or {AGENTS_GIT})")
    conn = sqlite3.connect(f"file:{quote(str(root / ARCHIVE_DB))}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems == ["ok"]:
            findings = _code_and_refs(root, conn) + _tallies(conn)
            pending = conn.execute("SELECT COUNT(*) FROM llm_calls WHERE outcome = ?", (PENDING,)).fetchone()[0]
    except sqlite3.DatabaseError as error:  # damage bad enough that the check itself stops
        problems = [str(error)]
    finally:
        conn.close()
    if problems != ["ok"]:
        shown = "; ".join(problems[:3]) + (f" and {len(problems) - 3} more" if len(problems) > 3 else "")
        hint = "restore the campaign directory from a backup, or salvage rows with sqlite3's .recover"
        return [Finding("integrity", f"{root / ARCHIVE_DB}: {shown} ({hint})", repairable=False)]
    if pending and _writer_running(root):
        findings.append(Finding("ledger", f"{pending} model call(s) in flight (the campaign is running)", False))
    elif pending:
        findings.append(Finding("ledger", f"{pending} model call(s) left pending by a stopped run", repairable=True))
    leftovers = _staging(root) + sorted((root / ARTIFACTS).rglob(".partial-*"))
    findings += [Finding("temporary", f"{path} left by a killed run", repairable=True) for path in leftovers]
    return findings


def _writer_running(root: Path) -> bool:
    """Whether a process holds the archive's writer lock (a campaign is running there)."""
    try:
        fd = os.open(root / WRITER_LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _code_and_refs(root: Path, conn: sqlite3.Connection) -> list[Finding]:
    rows = conn.execute("SELECT id, commit_sha, code_hash FROM nodes WHERE commit_sha IS NOT NULL").fetchall()
    git = GitStore(root / AGENTS_GIT)
    missing = set(git.missing(name for _, commit, tree in rows for name in (commit, tree)))
    findings = [
        Finding("code", f"node {node}: {name} is missing from {AGENTS_GIT}", repairable=False)
        for node, commit, tree in rows
        for name in (commit, tree)
        if name in missing
    ]
    if not missing:  # commits and trees all there: are the blobs and subtrees under them too?
        findings += _unreachable_objects(root / AGENTS_GIT, {tree: node for node, _, tree in rows})
    refs = git.node_refs()
    findings += [
        Finding("refs", f"node {node}: refs/nodes/{node} does not name its commit {commit}", repairable=True)
        for node, commit, _ in rows
        if refs.get(node) != commit and commit not in missing
    ]
    return findings


_BROKEN = re.compile(r"broken link from\s+\w+ ([0-9a-f]+)\s+to\s+(\w+) ([0-9a-f]+)")


def _unreachable_objects(git_dir: Path, node_of_tree: dict[str, str]) -> list[Finding]:
    """Objects under the nodes' refs that agents.git lacks (`git fsck --connectivity-only`), named by node
    where the broken link starts at a node's tree."""
    fsck = subprocess.run(
        ["git", "--git-dir", str(git_dir), "fsck", "--connectivity-only", "--no-dangling", "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return [
        Finding("code", f"{kind} {name} under {where} is missing from {AGENTS_GIT}", repairable=False)
        for source, kind, name in _BROKEN.findall(fsck.stdout + fsck.stderr)
        for where in [f"node {node_of_tree[source]}" if source in node_of_tree else f"tree {source}"]
    ]


def _tallies(conn: sqlite3.Connection) -> list[Finding]:
    """Tallies that differ from their derivation from the results (rows either way)."""
    findings = []
    for statement, (table, columns) in zip(REBUILD_TALLIES, _TALLY_COLUMNS.items(), strict=True):
        derived = statement.split("\n", 1)[1]
        differ = conn.execute(
            f"SELECT (SELECT COUNT(*) FROM ({derived} EXCEPT SELECT {columns} FROM {table}))"
            f" + (SELECT COUNT(*) FROM (SELECT {columns} FROM {table} EXCEPT {derived}))"
        ).fetchone()[0]
        if differ:
            findings.append(Finding("tallies", f"{table}: {differ} row(s) differ from the results", repairable=True))
    return findings


def repair(root: Path) -> list[str]:
    """Do the safe repairs of what `examine` finds; returns what was repaired. The archive's writer lock is
    taken first, so it never runs beside a campaign."""
    fixed = [finding for finding in examine(root) if finding.repairable]
    # opening for writing restores node refs, removes partial artifacts and settles pending calls (_recover)
    with Archive.open(root, check_code=False) as archive:
        for path in _staging(root):
            shutil.rmtree(path, ignore_errors=True)
        tables = sorted({f.detail.split(":", 1)[0] for f in fixed if f.check == "tallies"})
        if tables:
            conn = sqlite3.connect(root / ARCHIVE_DB, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                for table in _TALLY_COLUMNS:
                    conn.execute(f"DELETE FROM {table}")
                for statement in REBUILD_TALLIES:
                    conn.execute(statement)
                conn.execute("COMMIT")
            finally:
                conn.close()
            archive.log_event("tallies_rebuilt", data={"tables": tables})
    reaped = [f"{folder.path} ({folder.reason})" for folder in reap_folders()]
    return [finding.detail for finding in fixed] + [f"{path}: temporary folder of a dead run" for path in reaped]
