"""The archive as flat tables for analysis (`opendgm export DIR --what TABLE --format jsonl|csv|parquet`).

Each table streams from one read snapshot: rows come from a SQLite cursor a batch at a time and trajectories
are read one file at a time, so memory stays flat however large the campaign (the `nodes` table keeps one
small summary tuple per node to say which is the best agent). Columns are typed (`string`, `int`,
`float`, `bool`); JSON-valued columns (`meta`, `data`) are JSON text in every format, so every format has
the same schema and loads into pandas or Hugging Face `datasets` without per-row type guessing. CSV writes
a null as an empty field.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any, Literal

from opendgm.archive.archive import Archive
from opendgm.archive.best import best_agent
from opendgm.archive.costs import cost_report
from opendgm.archive.models import Event, TaskResult
from opendgm.archive.sentences import sentence
from opendgm.llm import CallRecord

ColumnType = Literal["string", "int", "float", "bool"]
FORMATS = ("jsonl", "csv", "parquet")
BATCH = 2000
SELF_MODIFICATION_LOG = "nodes/{node}/self_improve.jsonl"  # written by opendgm.evaluators.self_modification


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    doc: str


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    rows: Callable[[Archive], Generator[tuple[Any, ...]]]


def _cursor(archive: Archive, sql: str) -> Iterator[sqlite3.Row]:
    """Rows of `sql` in batches, inside one read transaction (a consistent snapshot while a campaign writes)."""
    with archive._db.read() as conn:  # the archive package's own connection, read-only here
        cursor = conn.execute(sql)
        while batch := cursor.fetchmany(BATCH):
            yield from batch


_NODE_COLUMNS = (
    Column("id", "string", "node id (n0001, ...)"),
    Column("seq", "int", "creation order"),
    Column("kind", "string", "agent | prompt | meta_prompt | rubric"),
    Column("parent_id", "string", "the parent node (null for a root)"),
    Column("status", "string", "proposed, modifying, built, validating, evaluating, evaluated, rejected, failed"),
    Column("status_reason", "string", "why a node was rejected or failed"),
    Column("operator", "string", "what made it (seed, self_improve, pe2, hyper_mutation, ...)"),
    Column("commit", "string", "its commit in agents.git (agents)"),
    Column("code_hash", "string", "git tree hash of its code, or blob hash of its text; results are keyed by it"),
    Column("message", "string", "commit message (the start of its problem statement)"),
    Column("meta", "string", "JSON object: problem_statement, entry, generation, meta_prompts, ..."),
    Column("content", "string", "the text of a prompt, meta-prompt or rubric (null for agents)"),
    Column("created_at", "float", "Unix time it was added"),
    Column("updated_at", "float", "Unix time of its last status change"),
    Column("n_children", "int", "children in the archive"),
    Column("stage", "string", "its latest declared evaluation stage"),
    Column("n_tasks", "int", "tasks (x attempts) of that stage"),
    Column("n_done", "int", "results recorded on that stage"),
    Column("n_resolved", "int", "resolved results on that stage"),
    Column("score", "float", "n_resolved / n_tasks of that stage (null without a stage)"),
    Column("passes", "int", "resolved results of its code over every stage and evaluator"),
    Column("fails", "int", "unresolved results of its code over every stage and evaluator"),
    Column("best", "bool", "the best agent of the campaign (opendgm.archive.best, HGM best-belief rule)"),
)


def _nodes(archive: Archive) -> Generator[tuple[Any, ...]]:
    with archive.snapshot():
        summaries = {row.id: row for row in archive.summaries(kind=None)}
        best = best_agent(list(summaries.values()))
        sql = (
            "SELECT id, seq, kind, parent_id, status, status_reason, operator, commit_sha, code_hash, message, meta,"
            " content, created_at, updated_at FROM nodes ORDER BY seq"
        )
        for row in _cursor(archive, sql):
            s = summaries.get(row["id"])
            stats = (
                (s.n_children, s.stage, s.n_tasks, s.n_done, s.n_resolved, s.score, s.passes, s.fails)
                if s
                else ((None,) * 8)
            )
            yield (*tuple(row), *stats, best is not None and row["id"] == best.id)


_RESULT_DOCS = {
    "id": "result id (grows with time)",
    "evaluator": "evaluator name (humaneval, swebench, ...)",
    "evaluator_version": "its version: results of different versions are never compared",
    "task_id": "the task (a SWE-bench instance id, a HumanEval problem, ...)",
    "attempt": "attempt number (0 unless a stage asks for several)",
    "tests_passed": "tests that passed at grading, when the grader counts them",
    "tests_failed": "tests that failed at grading, when the grader counts them",
    "exit_code": "the agent's exit code",
    "duration_s": "seconds the task took (agent run and grading)",
    "cost_usd": "model spend of the agent on this task",
    "tokens": "model tokens of the agent on this task",
    "code_hash": "the code it graded: nodes with identical code share results (join nodes on code_hash)",
    "node_id": "the node whose run recorded it",
    "resolved": "status == resolved",
    "status": "resolved | unresolved | empty_patch | patch_failed | agent_error | agent_timeout | ...",
    "log_path": "grading log, relative to artifacts/",
    "trajectory_path": "agent trajectory (JSONL), relative to artifacts/",
    "patch_path": "the agent's diff, relative to artifacts/",
    "detail": "the model error, crash or grading note",
    "created_at": "Unix time it was recorded",
}
_TYPES: dict[Any, ColumnType] = {
    "str": "string",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "str | None": "string",
    "int | None": "int",
    "float | None": "float",
    "ResultStatus": "string",
    "Outcome": "string",
}
_RESULT_COLUMNS = tuple(Column(f.name, _TYPES[f.type], _RESULT_DOCS.get(f.name, "")) for f in fields(TaskResult))


def _select(archive: Archive, columns: tuple[Column, ...], table: str, order: str) -> Generator[tuple[Any, ...]]:
    """The columns of a table as typed tuples (SQLite keeps booleans as 0/1)."""
    sql = f"SELECT {', '.join(c.name for c in columns)} FROM {table} ORDER BY {order}"
    for row in _cursor(archive, sql):
        yield tuple(bool(v) if c.type == "bool" else v for c, v in zip(columns, row, strict=True))


def _results(archive: Archive) -> Generator[tuple[Any, ...]]:
    return _select(archive, _RESULT_COLUMNS, "results", "id")


_CALL_DOCS = {
    "campaign": "the campaign name",
    "node": "the node the call was charged to (null: campaign-level)",
    "model": "the provider's model name",
    "prompt_tokens": "tokens sent (the cached ones included)",
    "completion_tokens": "tokens received",
    "cache_read_tokens": "of prompt_tokens, read from the provider's prompt cache (billed at its cache-read price)",
    "cache_write_tokens": "of prompt_tokens, written to the provider's prompt cache (billed at its cache-write price)",
    "latency_s": "seconds until the answer (retries included)",
    "attempts": "requests sent for this call (retries of transient failures)",
    "error_class": "the typed error when the call failed",
    "error": "the error message when the call failed",
    "request_hash": "hash of the request (record/replay key)",
    "id": "call id (unique)",
    "role": "agent | meta | judge | ... (the model role in the campaign config)",
    "purpose": "what it was for (agent, diagnose, self_improve, pe2, judge, ...)",
    "outcome": "ok | error | refused | pending | interrupted",
    "cost_usd": "dollars (0 for free local models)",
    "replayed": "answered from a record/replay file",
    "ts": "Unix time",
}
_CALL_COLUMNS = tuple(Column(f.name, _TYPES[f.type], _CALL_DOCS.get(f.name, "")) for f in fields(CallRecord))


def _calls(archive: Archive) -> Generator[tuple[Any, ...]]:
    return _select(archive, _CALL_COLUMNS, "llm_calls", "ts, id")


_IMPROVEMENT_COLUMNS = (
    Column("node", "string", "the new best agent"),
    Column("value", "float", "its figure under the best-agent rule (HGM best-belief posterior mean)"),
    Column("gain", "float", "over the previous best agent (null for the first, the baseline)"),
    Column("campaign_usd", "float", "the campaign's whole spend until its figure was known (the primary figure)"),
    Column("campaign_tokens", "int", "the campaign's tokens until then"),
    Column("since_previous_usd", "float", "spend since the previous best agent"),
    Column("since_previous_tokens", "int", "tokens since the previous best agent"),
    Column("path_usd", "float", "spend charged to the nodes of its own path, root to it"),
    Column("path_tokens", "int", "tokens charged to the nodes of its path"),
    Column("path", "string", "JSON list: the node ids of its path, root first"),
)


def _improvements(archive: Archive) -> Generator[tuple[Any, ...]]:
    for step in cost_report(archive, top=0)["improvements"]:
        yield (*(step[c.name] for c in _IMPROVEMENT_COLUMNS[:-1]), json.dumps(step["path"]))


_EVENT_COLUMNS = (
    Column("id", "int", "event id (grows with time)"),
    Column("ts", "float", "Unix time"),
    Column("kind", "string", "node_added, status, result, stage, generation, campaign_stopped, ..."),
    Column("node_id", "string", "the node it is about (null: the campaign)"),
    Column("data", "string", "JSON object: the event's fields"),
    Column("text", "string", "the event as a sentence"),
)


def _events(archive: Archive) -> Generator[tuple[Any, ...]]:
    for row in _cursor(archive, "SELECT id, ts, kind, node_id, data FROM events ORDER BY id"):
        event = Event(row[0], row[1], row[2], row[3], json.loads(row[4]))
        yield (*tuple(row), sentence(event))


_TRAJECTORY_COLUMNS = (
    Column("kind", "string", "task (an agent's run on a task) | self_modification (a parent rewriting itself)"),
    Column("node_id", "string", "the node whose run it is (for self_modification: the child being made)"),
    Column("result_id", "int", "the result it belongs to (task trajectories)"),
    Column("task_id", "string", "the task (null for self_modification)"),
    Column("attempt", "int", "attempt number (task trajectories)"),
    Column("status", "string", "the result's status, or the child's status"),
    Column("resolved", "bool", "the task was resolved (task trajectories)"),
    Column("path", "string", "the artifact, relative to artifacts/"),
    Column("steps", "int", "non-empty JSONL lines"),
    Column("trajectory", "string", "the JSONL text: one step per line, as the agent's runner wrote it"),
)


def _trajectories(archive: Archive) -> Generator[tuple[Any, ...]]:
    def read(path: str) -> str:
        return archive.artifacts.read_text(path)

    sql = (
        "SELECT id, node_id, task_id, attempt, status, resolved, trajectory_path FROM results"
        " WHERE trajectory_path IS NOT NULL ORDER BY id"
    )
    for row in _cursor(archive, sql):
        text = read(row["trajectory_path"]) if archive.artifacts.exists(row["trajectory_path"]) else ""
        yield ("task", row[1], row[0], row[2], row[3], row[4], bool(row[5]), row[6], _steps(text), text)
    sql = "SELECT id, status FROM nodes WHERE kind = 'agent' ORDER BY seq"
    for node, status in _cursor(archive, sql):
        path = SELF_MODIFICATION_LOG.format(node=node)
        if archive.artifacts.exists(path):
            text = read(path)
            yield ("self_modification", node, None, None, None, status, None, path, _steps(text), text)


def _steps(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table("nodes", "one row per archive node, with its latest-stage score and evidence", _NODE_COLUMNS, _nodes),
        Table("results", "one row per graded task attempt (keyed by code, not node)", _RESULT_COLUMNS, _results),
        Table("calls", "one row per model call, refused and failed ones included (the ledger)", _CALL_COLUMNS, _calls),
        Table(
            "improvements",
            "one row per new best agent, in the order they appeared, with the spend it took (opendgm cost)",
            _IMPROVEMENT_COLUMNS,
            _improvements,
        ),
        Table("events", "the event log, each event also as a sentence", _EVENT_COLUMNS, _events),
        Table("trajectories", "agent trajectories of tasks and self-modifications", _TRAJECTORY_COLUMNS, _trajectories),
    )
}


def write_table(archive: Archive, table: Table, fmt: str, out: IO[str] | Path) -> int:
    """Stream `table` to `out` (a text stream for jsonl/csv, a file path for parquet); returns the row count."""
    with closing(table.rows(archive)) as rows:  # ends the read snapshot even when the reader goes away
        if fmt == "parquet":
            if not isinstance(out, Path):
                raise ValueError("parquet is written to a file, not a stream")
            return _write_parquet(table, rows, out)
        return _write_text(table, rows, fmt, out)


def _write_text(table: Table, rows: Iterator[tuple[Any, ...]], fmt: str, out: IO[str] | Path) -> int:
    names = [column.name for column in table.columns]
    stream = out.open("w", encoding="utf-8", newline="") if isinstance(out, Path) else out
    count = 0
    try:
        if fmt == "csv":
            writer = csv.writer(stream)
            writer.writerow(names)
            for count, row in enumerate(rows, 1):  # noqa: B007 (the count is the result)
                writer.writerow(["" if value is None else _csv_value(value) for value in row])
        else:
            for count, row in enumerate(rows, 1):  # noqa: B007
                stream.write(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False) + "\n")
    finally:
        if isinstance(out, Path):
            stream.close()
    return count


def _csv_value(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _write_parquet(table: Table, rows: Iterator[tuple[Any, ...]], path: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise RuntimeError("parquet export needs pyarrow: pip install 'opendgm[parquet]'") from None
    arrow = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    schema = pa.schema([pa.field(column.name, arrow[column.type]) for column in table.columns])
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH:
                writer.write_batch(_batch(pa, schema, batch))
                count, batch = count + len(batch), []
        if batch or not count:
            writer.write_batch(_batch(pa, schema, batch))
            count += len(batch)
    return count


def _batch(pa: Any, schema: Any, rows: list[tuple[Any, ...]]) -> Any:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = [pa.array(list(values), type=field.type) for values, field in zip(columns, schema, strict=True)]
    return pa.record_batch(arrays, schema)


def describe_columns() -> str:
    """Every table and column as Markdown (the README's and `--help`'s reference)."""
    lines = []
    for table in TABLES.values():
        lines += [f"**{table.name}**: {table.doc}", ""]
        lines += [f"- `{c.name}` ({c.type}): {c.doc}".rstrip(": ") for c in table.columns]
        lines.append("")
    return "\n".join(lines)
