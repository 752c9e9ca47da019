"""`Archive`: the durable state of one campaign, one directory on disk.

    <root>/archive.sqlite   nodes, edges, stages, per-task results, LLM calls, events (WAL)
    <root>/agents.git       bare repo; agent node = commit, `refs/nodes/<id>` keeps it alive
    <root>/artifacts/       trajectories, logs, patches (gzipped when large)
    <root>/.writer.lock     flock held by the one writer

Write order for agent code, chosen so that a node row never names a missing commit: git objects first
(fsynced, unreachable), then the node row in one SQLite transaction, then the ref. A crash between the
first two leaves unreachable objects (harmless garbage); between the last two, a row without its ref,
which the writer restores when it next opens the archive.

This module holds the life cycle, nodes, status/meta/edges and code; `Archive` inherits its results,
stages and scores from `results.ResultsMixin` and its event log from `events.EventsMixin`; `rows` holds
the row helpers they share.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import fcntl
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

from opendgm.archive import graph as graphs
from opendgm.archive import trees
from opendgm.archive.artifacts import ArtifactStore
from opendgm.archive.db import Database
from opendgm.archive.errors import ArchiveError, full_disk, no_space_left
from opendgm.archive.events import EventsMixin
from opendgm.archive.gitstore import GitStore
from opendgm.archive.ledger import ArchiveLedger
from opendgm.archive.models import (
    NEEDS_CONTENT,
    NODE_KINDS,
    RESULT_STATUSES,
    STATUSES,
    TRANSITIONS,
    AgentImport,
    Edge,
    Node,
    NodeKind,
    ResultImport,
    Status,
)
from opendgm.archive.results import ResultsMixin
from opendgm.archive.rows import blob_hash, insert_row, to_json, to_node
from opendgm.archive.schema import check_version, migrate, schema_version
from opendgm.archive.summaries import SummaryCache
from opendgm.llm import Totals
from opendgm.version import __version__

ARCHIVE_DB = "archive.sqlite"
AGENTS_GIT = "agents.git"
ARTIFACTS = "artifacts"
WRITER_LOCK = ".writer.lock"

_NODE_COLUMNS = (
    "id, seq, kind, parent_id, status, status_reason, operator, meta, commit_sha, code_hash, content,"
    " message, created_at, updated_at"
)


_RESULT_EVENT = ("evaluator", "task_id", "attempt", "status")  # the data of a `result` event (record_result)


def unreadable(root: Path, error: BaseException) -> ArchiveError:
    """What SQLite's refusal means: a full disk (it says "disk I/O error" then), else damage, with where to go next."""
    if no_space_left(root):
        return full_disk(root)
    return ArchiveError(
        f"{root / ARCHIVE_DB} is not a readable archive database ({error}); check it: `opendgm doctor {root}`"
    )


def _acquire_writer_lock(root: Path) -> int:
    fd = os.open(root / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise ArchiveError(
            f"{root} is already open for writing (writer pid {holder}); there is one writer per campaign,"
            " open it read-only to inspect it"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _move_into_place(staging: Path, root: Path) -> None:
    """Rename the finished archive to `root`; when another process got there first, say so as the lock does."""
    try:
        os.rename(staging, root)
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        os.close(_acquire_writer_lock(root))  # the lock message while the other process holds it
        raise ArchiveError(f"cannot create an archive at {root}: another process created it at the same time") from None


class Archive(ResultsMixin, EventsMixin):
    """One campaign's archive. Open it with `create` or `open`; close it (or use `with`)."""

    def __init__(self, root: Path, db: Database, git: GitStore, campaign: str, lock_fd: int | None) -> None:
        self.root = root
        self.campaign = campaign
        self.readonly = lock_fd is None
        self.artifacts = ArtifactStore(root / ARTIFACTS, readonly=self.readonly)
        self.ledger = ArchiveLedger(db)
        self._db = db
        self._git = git
        self._summary_cache = SummaryCache()
        self._lock_fd = lock_fd

    # ----------------------------------------------------------------------------------- life cycle

    @classmethod
    def create(cls, root: str | Path, campaign: str) -> Archive:
        """Make a new campaign directory (absent or empty) and open it for writing. It is built beside
        `root` and renamed into place, so a crash never leaves a half-made archive."""
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ArchiveError(f"cannot create an archive at {root}: it exists and is not an empty directory")
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = root.parent / f".{root.name}.creating-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            GitStore.init(staging / AGENTS_GIT)
            (staging / ARTIFACTS).mkdir()
            db = Database(staging / ARCHIVE_DB, mode="rwc")
            try:
                migrate(db.conn)
                with db.write() as conn:
                    conn.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [("campaign", campaign), ("created_at", str(time.time())), ("created_by", __version__)],
                    )
            finally:
                db.close()
            _move_into_place(staging, root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if no_space_left(root.parent):
                raise full_disk(root) from None
            raise
        return cls.open(root)

    @classmethod
    def open_or_create(cls, root: str | Path, campaign: str) -> Archive:
        """The campaign directory `root` opened for writing, made first (named `campaign`) when it holds no archive
        yet: how every command that writes a campaign starts."""
        return cls.open(root) if cls.exists(root) else cls.create(root, campaign)

    @staticmethod
    def exists(root: str | Path) -> bool:
        """Whether `root` holds an archive (its database file), whatever its state."""
        return (Path(root) / ARCHIVE_DB).exists()

    @classmethod
    def open(cls, root: str | Path, *, readonly: bool = False, check_code: bool = True) -> Archive:
        """Open for writing (one writer: migrates, repairs what a crash left) or read-only (any number,
        never blocking the writer; each `snapshot()` is consistent).

        Every agent node's commit and tree must be in agents.git (one `cat-file --batch-check`): a damaged
        archive is reported here, by node, not later by the command that needs the code. `check_code=False`
        opens it anyway (for a repair tool)."""
        root = Path(root)
        if not root.is_dir():
            raise ArchiveError(f"no campaign archive at {root}: the directory does not exist")
        missing = [name for name in (ARCHIVE_DB, AGENTS_GIT) if not (root / name).exists()]
        if missing:
            raise ArchiveError(f"{root} is not an opendgm campaign archive: {', '.join(missing)} missing")
        lock_fd = None if readonly else _acquire_writer_lock(root)
        db: Database | None = None
        try:
            try:
                db = Database(root / ARCHIVE_DB, mode="ro" if readonly else "rw")
                campaign = cls._prepare(db, readonly)
            except sqlite3.DatabaseError as error:
                raise unreadable(root, error) from None
            git = GitStore(root / AGENTS_GIT)
            git.check()
            archive = cls(root, db, git, campaign, lock_fd)
            try:
                if check_code:
                    archive._check_code()
                if not readonly:
                    archive._recover()
            except sqlite3.DatabaseError as error:
                raise unreadable(root, error) from None
            return archive
        except BaseException:
            if db is not None:
                db.close()
            if lock_fd is not None:
                os.close(lock_fd)
            raise

    @staticmethod
    def _prepare(db: Database, readonly: bool) -> str:
        """Check (reader) or migrate (writer) the schema; return the campaign name."""
        if schema_version(db.conn) == 0:
            raise ArchiveError(f"{db.path} holds no archive schema (it was not made by Archive.create)")
        if readonly:
            check_version(db.conn, writable=False)
        else:
            migrate(db.conn)
        row = db.conn.execute("SELECT value FROM meta WHERE key = 'campaign'").fetchone()
        if row is None:
            raise ArchiveError(f"{db.path} has no campaign name in its meta table")
        return row[0]

    def _check_code(self) -> None:
        """Fail clearly when agents.git lacks the commit or tree of any agent node."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT id, commit_sha, code_hash FROM nodes WHERE commit_sha IS NOT NULL").fetchall()
        missing = set(self._git.missing(name for _, commit, tree in rows for name in (commit, tree)))
        damaged = []
        for node, commit, tree in rows:
            lost = [name for name in (commit, tree) if name in missing]
            if lost:
                damaged.append(f"{node} ({', '.join(lost)})")
        if damaged:
            shown = ", ".join(damaged[:5]) + (f" and {len(damaged) - 5} more" if len(damaged) > 5 else "")
            raise ArchiveError(
                f"{self.root / AGENTS_GIT} lacks the code objects of nodes {shown}: the archive is damaged"
            )

    def _recover(self) -> None:
        """Put back what a killed writer left half-done: refs for committed node rows (the objects were
        written first, so they exist), no refs or partial artifacts for anything uncommitted, and its model
        calls still in flight settled as `interrupted`."""
        with self._db.read() as conn:
            commits = dict(conn.execute("SELECT id, commit_sha FROM nodes WHERE commit_sha IS NOT NULL").fetchall())
        refs = self._git.node_refs()
        restore = {node: sha for node, sha in commits.items() if refs.get(node) != sha}
        dangling = sorted(set(refs) - set(commits))
        found = self._git.read_commits(restore.values())
        lost = [node for node, sha in restore.items() if found[sha] is None]
        if lost:
            raise ArchiveError(f"agents.git lacks the commits of nodes {lost}: the archive is damaged")
        self._git.update_node_refs(restore, dangling)
        partials = self.artifacts.remove_partials()
        interrupted = self.ledger.settle_interrupted()
        if restore or dangling or partials or interrupted:
            data = {"refs_restored": sorted(restore), "refs_removed": dangling, "partial_artifacts": partials}
            self.log_event("recovered", data=data | {"interrupted_model_calls": interrupted})

    def close(self) -> None:
        """Close the database and release the writer lock (`with Archive.open(...)` does it)."""
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside the block sees the same consistent state (one read transaction)."""
        with self._db.read():
            yield

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically (and fsync once); durability moves to the end of the block."""
        with self._write():
            yield

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        if self.readonly:
            raise ArchiveError(f"{self.root} was opened read-only")
        return self._db.write()

    # ----------------------------------------------------------------------------------------- nodes

    def _get(self, conn: sqlite3.Connection, node_id: str) -> Node:
        row = conn.execute(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE id = ?", (node_id,)).fetchone()
        if row is None:
            raise ArchiveError(f"no node {node_id!r} in this archive")
        return to_node(row)

    def _insert_node(
        self,
        conn: sqlite3.Connection,
        *,
        kind: str,
        parent: str | None,
        status: str,
        operator: str | None,
        meta: Mapping[str, Any] | None,
        commit: str | None = None,
        code_hash: str | None = None,
        content: str | None = None,
        message: str = "",
    ) -> Node:
        if kind not in NODE_KINDS:
            raise ArchiveError(f"unknown node kind {kind!r}; expected one of {sorted(NODE_KINDS)}")
        if status not in STATUSES:
            raise ArchiveError(f"unknown status {status!r}; expected one of {sorted(STATUSES)}")
        if status in NEEDS_CONTENT and code_hash is None:
            raise ArchiveError(f"a node without content cannot be {status!r}")
        if parent is not None and (parent_kind := self._get(conn, parent).kind) != kind:
            raise ArchiveError(f"a {kind} node cannot have the {parent_kind} node {parent} as parent")
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM nodes").fetchone()[0]
        now = time.time()
        row = {
            "id": f"n{seq:04d}",
            "seq": seq,
            "kind": kind,
            "parent_id": parent,
            "status": status,
            "operator": operator,
            "meta": to_json(dict(meta or {})),
            "commit_sha": commit,
            "code_hash": code_hash,
            "content": content,
            "message": message,
            "created_at": now,
            "updated_at": now,
        }
        insert_row(conn, "nodes", row)
        node_id = row["id"]
        self._event(
            conn, "node_added", node_id, {"kind": kind, "parent": parent, "operator": operator, "status": status}
        )
        return self._get(conn, node_id)

    def _parent_commit(self, parent: str | None) -> str | None:
        if parent is None:
            return None
        node = self.node(parent)
        if node.kind != "agent":
            raise ArchiveError(f"an agent node cannot have the {node.kind} node {parent} as parent")
        if node.commit is None:
            raise ArchiveError(f"node {parent} has no code yet, so it cannot be a parent")
        return node.commit

    def add_agent(
        self,
        code_dir: str | Path,
        parent: str | None = None,
        *,
        operator: str | None = None,
        message: str = "",
        meta: Mapping[str, Any] | None = None,
    ) -> Node:
        """Commit `code_dir` as a new agent node (status `built`) whose git parent is `parent`'s commit."""
        commit, tree = self._git.commit_dir(Path(code_dir), self._parent_commit(parent), message)
        trees.check_links(self._git, tree)
        with self._write() as conn:
            node = self._insert_node(
                conn,
                kind="agent",
                parent=parent,
                status="built",
                operator=operator,
                meta=meta,
                commit=commit,
                code_hash=tree,
                message=message,
            )
            self._db.after_commit(lambda: self._git.update_node_refs({node.id: commit}))
        return node

    def add_node(
        self,
        kind: NodeKind,
        content: str,
        parent: str | None = None,
        *,
        operator: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Node:
        """A prompt, meta-prompt or rubric node (status `built`); its text lives in SQLite."""
        if kind == "agent":
            raise ArchiveError("agent nodes hold code: use add_agent")
        with self._write() as conn:
            return self._insert_node(
                conn,
                kind=kind,
                parent=parent,
                status="built",
                operator=operator,
                meta=meta,
                content=content,
                code_hash=blob_hash(content),
            )

    def propose(
        self,
        kind: NodeKind,
        parent: str | None = None,
        *,
        operator: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Node:
        """A node without content yet (status `proposed`), so the model calls that create its content
        can be attributed to it. Fill it with `attach_code` / `attach_content`."""
        with self._write() as conn:
            return self._insert_node(conn, kind=kind, parent=parent, status="proposed", operator=operator, meta=meta)

    def attach_code(self, node_id: str, code_dir: str | Path, message: str = "") -> Node:
        """Commit the code of a proposed agent node; it becomes `built`."""
        commit, tree = self._git.commit_dir(Path(code_dir), self._awaiting_code(node_id), message)
        return self._attach_commit(node_id, commit, tree, message)

    def attach_tree(self, node_id: str, tree: str, message: str = "") -> Node:
        """Commit a tree already in agents.git (see `adopt_tree`, `code`) as a proposed agent's code; it
        becomes `built`. A tree with links pointing outside itself is refused."""
        commit = self._git.commit_tree(tree, self._awaiting_code(node_id), message)
        return self._attach_commit(node_id, commit, tree, message)

    def adopt_tree(self, source: GitStore, tree: str) -> str:
        """Copy a tree captured in another store into agents.git (unreachable until attached)."""
        source.copy_objects(tree, self._git)
        return tree

    def code(self, node_id: str) -> trees.CodeTree:
        """An agent node's code, read from git objects (links listed as links, never followed)."""
        node = self.node(node_id)
        if node.commit is None:
            raise ArchiveError(f"node {node_id} has no code to read")
        return trees.CodeTree(self._git, node.commit)

    def _awaiting_code(self, node_id: str) -> str | None:
        """The parent commit of a proposed agent node (ArchiveError for any other node)."""
        node = self.node(node_id)
        if node.kind != "agent" or node.commit is not None:
            raise ArchiveError(f"node {node_id} is not an agent awaiting its code")
        return self._parent_commit(node.parent_id)

    def _attach_commit(self, node_id: str, commit: str, tree: str, message: str) -> Node:
        trees.check_links(self._git, tree)
        with self._write() as conn:
            attached = conn.execute(
                "UPDATE nodes SET commit_sha = ?, code_hash = ?, message = ? WHERE id = ? AND commit_sha IS NULL",
                (commit, tree, message, node_id),
            ).rowcount
            if not attached:  # another thread attached code first
                raise ArchiveError(f"node {node_id} is not an agent awaiting its code")
            self._db.after_commit(lambda: self._git.update_node_refs({node_id: commit}))
            return self._transition(conn, node_id, "built", None)

    def attach_content(self, node_id: str, content: str) -> Node:
        """Set the text of a proposed prompt/meta-prompt/rubric node; it becomes `built`."""
        with self._write() as conn:
            node = self._get(conn, node_id)
            if node.kind == "agent" or node.code_hash is not None:
                raise ArchiveError(f"node {node_id} is not a text node awaiting its content")
            conn.execute(
                "UPDATE nodes SET content = ?, code_hash = ? WHERE id = ?", (content, blob_hash(content), node_id)
            )
            return self._transition(conn, node_id, "built", None)

    def import_agents(self, entries: Sequence[AgentImport]) -> list[Node]:
        """Register commits already written into agents.git (e.g. by `git fast-import`) as agent nodes,
        in one transaction: the bulk path for imports and the scale benchmark."""
        infos = self._git.read_commits(entry.commit for entry in entries)
        absent = [commit for commit, info in infos.items() if info is None]
        if absent:
            raise ArchiveError(f"commits not in agents.git: {absent[:5]}{'...' if len(absent) > 5 else ''}")
        nodes: list[Node] = []
        with self._write() as conn:
            for index, entry in enumerate(entries):
                parent_id, parent_commit = self._import_parent(entry.parent, index, nodes)
                info = infos[entry.commit]
                if info is None or info.parents != ((parent_commit,) if parent_commit else ()):
                    raise ArchiveError(f"entry {index}: commit {entry.commit}'s git parent is not its parent's")
                nodes.append(
                    self._insert_node(
                        conn,
                        kind="agent",
                        parent=parent_id,
                        status=entry.status,
                        operator=entry.operator,
                        meta=entry.meta,
                        commit=entry.commit,
                        code_hash=info.tree,
                        message=entry.message,
                    )
                )
            refs = {node.id: node.commit for node in nodes if node.commit}
            self._db.after_commit(lambda: self._git.update_node_refs(refs))
        return nodes

    def import_results(self, entries: Sequence[ResultImport]) -> int:
        """Record many graded attempts in one transaction, one statement per table: the rows, tallies (by the same
        triggers), revisions and `result` events that `record_result` writes for each, for bulk imports and the
        scale benchmarks. Existing (code, evaluator, version, task, attempt) keys are skipped, as there. Returns
        how many were new."""
        bad = [entry for entry in entries if entry.status not in RESULT_STATUSES or entry.attempt < 0]
        if bad:
            raise ArchiveError(f"{len(bad)} entries with an unknown status or a negative attempt, e.g. {bad[0]}")
        with self._write() as conn:
            code = {node: self._get(conn, node).code_hash for node in {entry.node_id for entry in entries}}
            if None in code.values():
                raise ArchiveError(f"nodes without code have no results: {[n for n, h in code.items() if h is None]}")
            last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM results").fetchone()[0]
            now = time.time()
            conn.executemany(
                "INSERT INTO results (code_hash, evaluator, evaluator_version, task_id, attempt, node_id, status,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    (code[e.node_id], e.evaluator, e.evaluator_version, e.task_id, e.attempt, e.node_id, e.status, now)
                    for e in entries
                ],
            )
            new = conn.execute(
                "SELECT node_id, evaluator, task_id, attempt, status FROM results WHERE id > ? ORDER BY id", (last,)
            ).fetchall()
            conn.executemany(  # the events `record_result` logs, for the rows just inserted, in their order
                "INSERT INTO events (ts, kind, node_id, data) VALUES (?, 'result', ?, ?)",
                [(now, row[0], to_json(dict(zip(_RESULT_EVENT, row[1:], strict=True)))) for row in new],
            )
            return len(new)

    def _import_parent(self, parent: str | int | None, index: int, done: list[Node]) -> tuple[str | None, str | None]:
        """(parent id, parent commit) of an import entry whose parent is an id or an earlier entry."""
        if not isinstance(parent, int):
            return parent, self._parent_commit(parent)
        if not 0 <= parent < index:
            raise ArchiveError(f"entry {index}: parent index {parent} is not an earlier entry")
        return done[parent].id, done[parent].commit

    def node(self, node_id: str) -> Node:
        """The node `node_id` (ArchiveError when there is none)."""
        with self._db.read() as conn:
            return self._get(conn, node_id)

    def nodes(self, kind: NodeKind | None = None, status: Status | None = None) -> list[Node]:
        """Nodes in creation order, optionally of one kind and/or status (e.g. to resume `evaluating`)."""
        clauses = [(column, value) for column, value in (("kind", kind), ("status", status)) if value]
        where = " AND ".join(f"{column} = ?" for column, _ in clauses) or "1"
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {_NODE_COLUMNS} FROM nodes WHERE {where} ORDER BY seq", [value for _, value in clauses]
            ).fetchall()
        return [to_node(row) for row in rows]

    def known_at(self) -> dict[str, float]:
        """When each agent's figure became known (its last status change), by id, in one lean query."""
        with self._db.read() as conn:
            return dict(conn.execute("SELECT id, updated_at FROM nodes WHERE kind = 'agent'").fetchall())

    def children(self, node_id: str) -> list[Node]:
        """The direct children of `node_id`, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {_NODE_COLUMNS} FROM nodes WHERE parent_id = ? ORDER BY seq", (node_id,)
            ).fetchall()
        return [to_node(row) for row in rows]

    def lineage(self, node_id: str) -> list[Node]:
        """The node's ancestors from the root down to the node itself."""
        query = f"""WITH RECURSIVE up(id, level) AS (
                        SELECT ?, 0 UNION ALL
                        SELECT n.parent_id, up.level + 1 FROM nodes n JOIN up ON n.id = up.id
                        WHERE n.parent_id IS NOT NULL)
                    SELECT {", ".join(f"n.{c.strip()}" for c in _NODE_COLUMNS.split(","))}
                    FROM up JOIN nodes n ON n.id = up.id ORDER BY up.level DESC"""
        with self._db.read() as conn:
            rows = conn.execute(query, (node_id,)).fetchall()
        if not rows:
            raise ArchiveError(f"no node {node_id!r} in this archive")
        return [to_node(row) for row in rows]

    def depth(self, node_id: str) -> int:
        """How many ancestors `node_id` has (a root has depth 0)."""
        return len(self.lineage(node_id)) - 1

    def resolve(self, ref: str) -> str:
        """A node id from what a user typed: the id itself or its number (`n0042`, `n42`, `42`)."""
        number = ref.strip().removeprefix("n")
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT id FROM nodes WHERE id = ? OR seq = ?", (ref, int(number) if number.isdigit() else -1)
            )
            found = row.fetchone()
        if found is None:
            raise ArchiveError(self._no_such_node(ref))
        return found[0]

    def _no_such_node(self, ref: str) -> str:
        """What to say about a mistyped node id: the ids that are close to it, and the range there is."""
        with self._db.read() as conn:
            ids = [row[0] for row in conn.execute("SELECT id FROM nodes ORDER BY seq")]
        if not ids:
            return f"no node {ref!r}: this archive has no nodes yet"
        close = difflib.get_close_matches(ref.strip(), ids, n=3, cutoff=0.6)
        hint = f"; close: {', '.join(close)}" if close else ""
        return f"no node {ref!r} in this archive{hint} (it has {ids[0]} to {ids[-1]}; 42 works for n0042)"

    # -------------------------------------------------------------------------------- status, meta, edges

    def _transition(self, conn: sqlite3.Connection, node_id: str, status: str, reason: str | None) -> Node:
        node = self._get(conn, node_id)
        if status == node.status:
            return node
        if status not in STATUSES:
            raise ArchiveError(f"unknown status {status!r}; expected one of {sorted(STATUSES)}")
        if status not in TRANSITIONS[node.status]:
            raise ArchiveError(f"node {node_id} cannot go from {node.status!r} to {status!r}")
        if status in NEEDS_CONTENT and node.code_hash is None:
            raise ArchiveError(f"node {node_id} has no content yet, so it cannot be {status!r}")
        conn.execute(
            "UPDATE nodes SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?",
            (status, reason, time.time(), node_id),
        )
        self._event(conn, "status", node_id, {"from": node.status, "to": status, "reason": reason})
        return self._get(conn, node_id)

    def set_status(self, node_id: str, status: Status, reason: str | None = None) -> Node:
        """Move a node along its life cycle; the change and its event are committed before returning.
        Repeating the current status is a no-op; an illegal transition is an ArchiveError."""
        with self._write() as conn:
            return self._transition(conn, node_id, status, reason)

    def update_meta(self, node_id: str, changes: Mapping[str, Any]) -> Node:
        """Merge keys into a node's meta (e.g. the problem statement, once the diagnosis has run)."""
        with self._write() as conn:
            merged = self._get(conn, node_id).meta | dict(changes)
            conn.execute(
                "UPDATE nodes SET meta = ?, updated_at = ? WHERE id = ?", (to_json(merged), time.time(), node_id)
            )
            self._event(conn, "meta", node_id, {"keys": sorted(changes)})
            return self._get(conn, node_id)

    def add_edge(self, src: str, dst: str, kind: str) -> Edge:
        """A typed relation, read "src <kind> dst": e.g. (child, meta_prompt, "produced_by"),
        (node, rubric, "scored_under"). Idempotent."""
        if not kind or kind == "parent":
            raise ArchiveError("an edge needs a kind other than 'parent' (parenthood is the parent link)")
        with self._write() as conn:
            for node_id in (src, dst):
                self._get(conn, node_id)
            added = conn.execute(
                "INSERT OR IGNORE INTO edges (src, dst, kind, created_at) VALUES (?, ?, ?, ?)",
                (src, dst, kind, time.time()),
            ).rowcount
            if added:
                self._event(conn, "edge", src, {"dst": dst, "kind": kind})
            row = conn.execute("SELECT * FROM edges WHERE src = ? AND dst = ? AND kind = ?", (src, dst, kind))
            return Edge(**dict(row.fetchone()))

    def remove_edge(self, src: str, dst: str, kind: str) -> None:
        """Withdraw a typed relation that turned out not to hold (a child whose special entry replaced the
        diagnosis meta-prompt chosen at its proposal); the event log keeps that it was there. Idempotent."""
        with self._write() as conn:
            removed = conn.execute(
                "DELETE FROM edges WHERE src = ? AND dst = ? AND kind = ?", (src, dst, kind)
            ).rowcount
            if removed:
                self._event(conn, "edge_removed", src, {"dst": dst, "kind": kind})

    def edges(self, node_id: str | None = None) -> list[Edge]:
        """Typed edges, all or those touching `node_id`."""
        where, args = ("WHERE src = ? OR dst = ?", (node_id, node_id)) if node_id else ("", ())
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT * FROM edges {where} ORDER BY created_at", args).fetchall()
        return [Edge(**dict(row)) for row in rows]

    # ------------------------------------------------------------------------------------ code

    def materialize(self, node_id: str, dest: str | Path) -> Path:
        """Write an agent node's code into `dest` (created, must be empty): one git call at any depth."""
        node = self.node(node_id)
        if node.commit is None:
            raise ArchiveError(f"node {node_id} has no code to materialise")
        dest = Path(dest)
        self._git.materialize(node.commit, dest)
        return dest

    def diff(self, old: str | None, new: str) -> str:
        """Unified diff between two nodes' code (agents) or text (prompts...); `old=None` is empty."""
        before = self.node(old) if old else None
        after = self.node(new)
        if after.code_hash is None or (before is not None and before.code_hash is None):
            raise ArchiveError("cannot diff a node that has no content yet")
        if after.kind == "agent":
            if before is not None and before.kind != "agent":
                raise ArchiveError(f"cannot diff {before.kind} node {old} against agent node {new}")
            assert after.commit is not None
            return self._git.diff(before.commit if before else None, after.commit)
        if before is not None and before.kind == "agent":
            raise ArchiveError(f"cannot diff agent node {old} against {after.kind} node {new}")
        lines = difflib.unified_diff(
            (before.content or "").splitlines(keepends=True) if before else [],
            (after.content or "").splitlines(keepends=True),
            fromfile=f"a/{old}" if old else "/dev/null",
            tofile=f"b/{new}",
        )
        return "".join(lines)

    def diff_to_parent(self, node_id: str) -> str:
        """What the node changed: its diff against its parent (against nothing for a root)."""
        return self.diff(self.node(node_id).parent_id, node_id)

    # ------------------------------------------------------------------------------- views, costs

    def graph(self, evaluator: str | None = None, evaluator_version: str | None = None) -> nx.DiGraph:
        """All nodes as a networkx DiGraph (see `opendgm.archive.graph` for the tree helpers)."""
        with self._db.read():
            return graphs.build_graph(self.summaries(None, evaluator, evaluator_version), self.edges())

    def cost(self, node_id: str) -> Totals:
        """Calls, tokens and dollars of every model call attributed to the node (ledger rows)."""
        return self.ledger.totals(node=node_id)

    def keep_summaries_in(self, cache: SummaryCache) -> None:
        """Read `summaries` through `cache`, which earlier handles of this same archive filled: a reader that
        opens the archive per request refreshes the rows that changed instead of reading every node again."""
        self._summary_cache = cache

    def meta(self) -> dict[str, str]:
        """The campaign-level facts stored at creation (campaign name, created_at, created_by)."""
        with self._db.read() as conn:
            return dict(conn.execute("SELECT key, value FROM meta").fetchall())
