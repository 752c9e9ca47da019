"""The SQLite schema as an ordered list of migrations; `PRAGMA user_version` counts those applied.

Never edit a migration that has shipped: append a new one. Each runs in its own transaction together
with the version bump, so a crash mid-migration leaves the previous version intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from opendgm.archive.errors import ArchiveError

Migration = Callable[[sqlite3.Connection], None]


def _statements(*sql: str) -> Migration:
    def run(conn: sqlite3.Connection) -> None:
        for statement in sql:
            conn.execute(statement)

    return run


_GRAPH = _statements(
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    """CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        parent_id TEXT REFERENCES nodes (id),
        status TEXT NOT NULL,
        status_reason TEXT,
        operator TEXT,
        meta TEXT NOT NULL DEFAULT '{}',
        commit_sha TEXT,
        code_hash TEXT,
        content TEXT,
        message TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX nodes_parent ON nodes (parent_id)",
    "CREATE INDEX nodes_code_hash ON nodes (code_hash)",
    """CREATE TABLE edges (
        src TEXT NOT NULL REFERENCES nodes (id),
        dst TEXT NOT NULL REFERENCES nodes (id),
        kind TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (src, dst, kind)
    ) WITHOUT ROWID""",
    "CREATE INDEX edges_dst ON edges (dst)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        node_id TEXT REFERENCES nodes (id),
        data TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX events_node ON events (node_id)",
)

# Task lists are stored once per distinct list: every node of a DGM-style campaign shares its stages'.
_EVALUATION = _statements(
    """CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        code_hash TEXT NOT NULL,
        evaluator TEXT NOT NULL,
        evaluator_version TEXT NOT NULL,
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        node_id TEXT NOT NULL REFERENCES nodes (id),
        status TEXT NOT NULL,
        resolved INTEGER GENERATED ALWAYS AS (status = 'resolved') STORED,
        tests_passed INTEGER,
        tests_failed INTEGER,
        exit_code INTEGER,
        duration_s REAL,
        log_path TEXT,
        trajectory_path TEXT,
        patch_path TEXT,
        cost_usd REAL NOT NULL DEFAULT 0,
        tokens INTEGER NOT NULL DEFAULT 0,
        detail TEXT,
        created_at REAL NOT NULL,
        UNIQUE (code_hash, evaluator, evaluator_version, task_id, attempt)
    )""",
    "CREATE INDEX results_node ON results (node_id)",
    "CREATE TABLE task_sets (id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, n INTEGER NOT NULL)",
    """CREATE TABLE task_set_items (
        set_id INTEGER NOT NULL REFERENCES task_sets (id),
        task_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (set_id, task_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE stages (
        id INTEGER PRIMARY KEY,
        node_id TEXT NOT NULL REFERENCES nodes (id),
        evaluator TEXT NOT NULL,
        evaluator_version TEXT NOT NULL,
        stage TEXT NOT NULL,
        set_id INTEGER NOT NULL REFERENCES task_sets (id),
        attempts INTEGER NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (node_id, evaluator, evaluator_version, stage)
    )""",
)

# Columns mirror `opendgm.llm.ledger.CallRecord`; a test fails when that record grows a field.
_LEDGER = _statements(
    """CREATE TABLE llm_calls (
        id TEXT PRIMARY KEY,
        campaign TEXT,
        node TEXT,
        role TEXT,
        purpose TEXT,
        model TEXT,
        outcome TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cost_usd REAL,
        latency_s REAL,
        attempts INTEGER,
        replayed INTEGER,
        error_class TEXT,
        error TEXT,
        request_hash TEXT,
        ts REAL
    )""",
    "CREATE INDEX llm_calls_node ON llm_calls (node)",
)

# The tallies derived from the results (filling the empty tables): the migration, and `opendgm doctor --repair`.
REBUILD_TALLIES = (
    """INSERT INTO stage_tallies (stage_id, n_done, n_resolved)
        SELECT s.id, COUNT(r.id), COALESCE(SUM(r.resolved), 0)
        FROM stages s
        JOIN nodes n ON n.id = s.node_id
        JOIN task_set_items i ON i.set_id = s.set_id
        LEFT JOIN results r ON r.code_hash = n.code_hash AND r.evaluator = s.evaluator
            AND r.evaluator_version = s.evaluator_version AND r.task_id = i.task_id AND r.attempt < s.attempts
        GROUP BY s.id""",
    """INSERT INTO code_tallies (code_hash, evaluator, evaluator_version, passes, fails)
        SELECT code_hash, evaluator, evaluator_version, SUM(resolved), COUNT(*) - SUM(resolved)
        FROM results GROUP BY code_hash, evaluator, evaluator_version""",
)

# Running tallies for whole-archive views (parent selection over 10^4 nodes must not rescan 10^5 results).
# They are maintained by triggers inside the transaction that inserts a result or declares a stage, and
# results, stages and task lists are append-only and a node's code hash is fixed once it has stages (the
# guards below abort anything else), so a tally always equals the derivation from the results; per-node
# `scores` still derive from the results directly.
_TALLIES = _statements(
    """CREATE TABLE stage_tallies (
        stage_id INTEGER PRIMARY KEY REFERENCES stages (id),
        n_done INTEGER NOT NULL,
        n_resolved INTEGER NOT NULL
    )""",
    REBUILD_TALLIES[0],
    """CREATE TABLE code_tallies (
        code_hash TEXT NOT NULL,
        evaluator TEXT NOT NULL,
        evaluator_version TEXT NOT NULL,
        passes INTEGER NOT NULL,
        fails INTEGER NOT NULL,
        PRIMARY KEY (code_hash, evaluator, evaluator_version)
    ) WITHOUT ROWID""",
    REBUILD_TALLIES[1],
    """CREATE TRIGGER tally_stage AFTER INSERT ON stages BEGIN
        INSERT INTO stage_tallies (stage_id, n_done, n_resolved)
        SELECT NEW.id, COUNT(r.id), COALESCE(SUM(r.resolved), 0)
        FROM nodes n
        JOIN task_set_items i ON i.set_id = NEW.set_id
        JOIN results r ON r.code_hash = n.code_hash AND r.evaluator = NEW.evaluator
            AND r.evaluator_version = NEW.evaluator_version AND r.task_id = i.task_id AND r.attempt < NEW.attempts
        WHERE n.id = NEW.node_id;
    END""",
    """CREATE TRIGGER tally_result AFTER INSERT ON results BEGIN
        UPDATE stage_tallies SET n_done = n_done + 1, n_resolved = n_resolved + NEW.resolved
        WHERE stage_id IN (
            SELECT s.id FROM nodes n
            JOIN stages s ON s.node_id = n.id
            JOIN task_set_items i ON i.set_id = s.set_id AND i.task_id = NEW.task_id
            WHERE n.code_hash = NEW.code_hash AND s.evaluator = NEW.evaluator
                AND s.evaluator_version = NEW.evaluator_version AND NEW.attempt < s.attempts);
        INSERT INTO code_tallies (code_hash, evaluator, evaluator_version, passes, fails)
        VALUES (NEW.code_hash, NEW.evaluator, NEW.evaluator_version, NEW.resolved, 1 - NEW.resolved)
        ON CONFLICT DO UPDATE SET passes = passes + excluded.passes, fails = fails + excluded.fails;
    END""",
    *(
        f"CREATE TRIGGER append_only_{table}_{verb.lower()} BEFORE {verb} ON {table}"
        f" BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
        for table in ("results", "stages", "task_set_items")
        for verb in ("UPDATE", "DELETE")
    ),
    """CREATE TRIGGER fixed_code_hash BEFORE UPDATE OF code_hash ON nodes
        WHEN OLD.code_hash IS NOT NULL OR EXISTS (SELECT 1 FROM stages WHERE node_id = OLD.id)
        BEGIN SELECT RAISE(ABORT, 'a node''s code hash is fixed once set or staged'); END""",
)


def _columns(table: str, *columns: tuple[str, str]) -> Migration:
    """Add (name, SQL type) columns that `table` lacks (a test rewinding `user_version` keeps the columns)."""

    def run(conn: sqlite3.Connection) -> None:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    return run


# Prompt-cache accounting: the parts of a call's prompt tokens read from and written to the provider's cache.
_CACHED_TOKENS = _columns(
    "llm_calls",
    ("cache_read_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("cache_write_tokens", "INTEGER NOT NULL DEFAULT 0"),
)


def _touch(nodes: str) -> str:
    """Give the nodes selected by `nodes` (a SELECT of ids) the next revision."""
    return (
        f"INSERT INTO summary_revs (node_id, rev) SELECT id, (SELECT COALESCE(MAX(rev), 0) + 1 FROM summary_revs)"
        f" FROM ({nodes}) WHERE id IS NOT NULL ON CONFLICT (node_id) DO UPDATE SET rev = excluded.rev"
    )


# A revision per node, bumped by triggers whenever anything `summaries` reports about it may change (its row,
# a child, a stage, a result of its code), so a reader that keeps the summaries re-reads only the nodes whose
# revision passed the last one it saw instead of scanning 10^5 nodes per parent selection.
_SUMMARY_REVS = _statements(
    "DROP TABLE IF EXISTS summary_revs",  # a test rewinding `user_version` keeps the table: start it afresh
    "CREATE TABLE summary_revs (node_id TEXT PRIMARY KEY REFERENCES nodes (id), rev INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX summary_revs_rev ON summary_revs (rev)",
    "INSERT INTO summary_revs (node_id, rev) SELECT id, 1 FROM nodes",
    f"""CREATE TRIGGER IF NOT EXISTS summary_node AFTER INSERT ON nodes BEGIN
        {_touch("SELECT NEW.id AS id UNION SELECT NEW.parent_id")};
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS summary_node_update
        AFTER UPDATE OF kind, parent_id, status, status_reason, operator, code_hash ON nodes BEGIN
        {_touch("SELECT NEW.id AS id UNION SELECT NEW.parent_id UNION SELECT OLD.parent_id")};
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS summary_stage AFTER INSERT ON stages BEGIN
        {_touch("SELECT NEW.node_id AS id")};
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS summary_result AFTER INSERT ON results BEGIN
        {_touch("SELECT id FROM nodes WHERE code_hash = NEW.code_hash")};
    END""",
)

# Tasks given up after repeated infrastructure failures (opendgm.outcomes; these literals are its constants, a test
# holds them equal): no verdict on the agent, so they leave its score. The event log stays the record; this table,
# kept by triggers in the transaction of each event, is what the score queries read (`EXHAUSTED_UNITS`).
RETRY_INFRA_EVENT = "retry_infra"  # `opendgm run --retry-infra`: every exhausted task is due again
_FAILED, _RETRY, _MAX_FAILURES = "task_infrastructure_failure", RETRY_INFRA_EVENT, 3
_SINCE_RETRY = f"kind = '{_FAILED}' AND id > (SELECT COALESCE(MAX(id), 0) FROM events WHERE kind = '{_RETRY}')"
_INFRA_EXHAUSTED = _statements(
    "DROP TABLE IF EXISTS infra_exhausted",  # a test rewinding `user_version` keeps the table: start it afresh
    """CREATE TABLE infra_exhausted (
        node_id TEXT NOT NULL REFERENCES nodes (id),
        task_id TEXT NOT NULL,
        PRIMARY KEY (node_id, task_id)
    ) WITHOUT ROWID""",
    f"""INSERT INTO infra_exhausted (node_id, task_id)
        SELECT node_id, data ->> '$.task' FROM events
        WHERE {_SINCE_RETRY} AND node_id IS NOT NULL AND data ->> '$.task' IS NOT NULL
        GROUP BY 1, 2 HAVING COUNT(*) >= {_MAX_FAILURES}""",
    f"""CREATE TRIGGER IF NOT EXISTS exhaust_task AFTER INSERT ON events
        WHEN NEW.kind = '{_FAILED}' AND NEW.node_id IS NOT NULL AND NEW.data ->> '$.task' IS NOT NULL BEGIN
        INSERT OR IGNORE INTO infra_exhausted (node_id, task_id) SELECT NEW.node_id, NEW.data ->> '$.task'
        WHERE (SELECT COUNT(*) FROM events WHERE node_id = NEW.node_id AND {_SINCE_RETRY}
               AND data ->> '$.task' = NEW.data ->> '$.task') >= {_MAX_FAILURES};
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS retry_exhausted AFTER INSERT ON events WHEN NEW.kind = '{_RETRY}' BEGIN
        DELETE FROM infra_exhausted;
    END""",
    *(
        f"CREATE TRIGGER IF NOT EXISTS summary_{name} AFTER {verb} ON infra_exhausted"
        f" BEGIN {_touch(f'SELECT {row}.node_id AS id')}; END"
        for name, verb, row in (("exhausted", "INSERT", "NEW"), ("unexhausted", "DELETE", "OLD"))
    ),
)

# The (task, attempt) units of stage `s` (of node `s.node_id`) that leave its `n_tasks`: the attempts without a
# result of its `infra_exhausted` tasks.
EXHAUSTED_UNITS = """(SELECT COALESCE(SUM(s.attempts - (
        SELECT COUNT(*) FROM results xr WHERE xr.code_hash = (SELECT code_hash FROM nodes WHERE id = s.node_id)
            AND xr.evaluator = s.evaluator AND xr.evaluator_version = s.evaluator_version
            AND xr.task_id = x.task_id AND xr.attempt < s.attempts)), 0)
    FROM infra_exhausted x JOIN task_set_items xi ON xi.set_id = s.set_id AND xi.task_id = x.task_id
    WHERE x.node_id = s.node_id)"""

MIGRATIONS: Sequence[Migration] = (
    _GRAPH, _EVALUATION, _LEDGER, _TALLIES, _CACHED_TOKENS, _SUMMARY_REVS, _INFRA_EXHAUSTED,
)  # fmt: skip
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def check_version(conn: sqlite3.Connection, *, writable: bool) -> int:
    """The archive's version, refusing one this code cannot read (newer, or older for a reader)."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise ArchiveError(
            f"archive schema version {version} is newer than this opendgm understands ({SCHEMA_VERSION});"
            " upgrade opendgm to open it"
        )
    if version < SCHEMA_VERSION and not writable:
        raise ArchiveError(
            f"archive schema version {version} is older than {SCHEMA_VERSION}; open it once for writing"
            " (e.g. resume the campaign) to migrate it, then read it"
        )
    return version


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> None:
    """Apply the pending migrations up to `target`, each atomically with its version bump."""
    for version in range(check_version(conn, writable=True), target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
