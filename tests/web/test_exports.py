"""`opendgm export --what TABLE --format jsonl|csv|parquet`: every table, in every format, loads back with the
archive's rows and values (read through the archive's own API, not the exporter), with the documented schema;
the exports stream; the README's pandas and `datasets` snippet runs on them."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tracemalloc
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from opendgm.archive import Archive, EvaluatorKey, ResultRecord, tables
from opendgm.archive.best import best_agent
from opendgm.archive.cli import app
from opendgm.archive.costs import cost_report
from opendgm.archive.sentences import sentence
from opendgm.archive.tables import TABLES, write_table
from tests.support.showcase import build_showcase

README = Path(__file__).parents[2] / "README.md"
ARROW = {"string": "string", "int": "int64", "float": "double", "bool": "bool"}


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("exports")
    return work / "campaign", build_showcase(work / "campaign", work)


def expected(archive: Archive, table: str) -> list[dict[str, Any]]:
    """The table's rows as the archive's public API reads them."""
    if table == "nodes":
        summaries = {row.id: row for row in archive.summaries(kind=None)}
        best = best_agent(list(summaries.values()))
        rows = []
        for node in archive.nodes():
            s = summaries[node.id]
            rows.append(
                {k: v for k, v in asdict(node).items()}
                | {"n_children": s.n_children, "stage": s.stage, "n_tasks": s.n_tasks, "n_done": s.n_done}
                | {"n_resolved": s.n_resolved, "score": s.score, "passes": s.passes, "fails": s.fails}
                | {"best": best is not None and node.id == best.id}
            )
        return rows
    if table == "results":
        found = {r.id: asdict(r) for node in archive.nodes() for r in archive.results(node.id)}
        return [found[key] for key in sorted(found)]
    if table == "calls":
        return [asdict(call) for call in sorted(archive.ledger.calls(), key=lambda c: (c.ts, c.id))]
    if table == "improvements":
        return [step | {"path": json.dumps(step["path"])} for step in cost_report(archive)["improvements"]]
    if table == "events":
        return [asdict(event) | {"text": sentence(event)} for event in archive.events()]
    rows = []
    for node in archive.nodes():  # trajectories: task runs first (by result id), then self-modifications
        for result in archive.results(node.id):
            if result.trajectory_path and result.node_id == node.id:
                text = archive.artifacts.read_text(result.trajectory_path)
                rows.append({"kind": "task", "result_id": result.id, "task_id": result.task_id, "trajectory": text})
    rows.sort(key=lambda row: row["result_id"])
    for node in archive.nodes(kind="agent"):
        path = f"nodes/{node.id}/self_improve.jsonl"
        if archive.artifacts.exists(path):
            text = archive.artifacts.read_text(path)
            rows.append({"kind": "self_modification", "node_id": node.id, "trajectory": text})
    return rows


def load(path: Path, fmt: str, table: str) -> list[dict[str, Any]]:
    """The exported file read back by a consumer: JSON lines, CSV typed by the documented schema, or Parquet."""
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if fmt == "parquet":
        schema = pq.read_schema(path)
        assert [(f.name, str(f.type)) for f in schema] == [(c.name, ARROW[c.type]) for c in TABLES[table].columns]
        return pq.read_table(path).to_pylist()
    types = {c.name: c.type for c in TABLES[table].columns}
    cast = {"string": str, "int": int, "float": float, "bool": lambda v: {"true": True, "false": False}[v]}
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        assert reader.fieldnames == list(types)
        return [{k: None if v == "" else cast[types[k]](v) for k, v in row.items()} for row in reader]


def same(exported: Any, archived: Any, fmt: str) -> bool:
    if isinstance(archived, dict):  # meta / data columns are JSON text
        return json.loads(exported) == archived
    if fmt == "csv" and archived == "":  # CSV writes null and the empty string alike
        return exported is None
    return exported == archived and type(exported) is type(archived)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("table", list(TABLES))
def test_every_table_round_trips_with_the_archive_values(
    showcase: tuple[Path, dict[str, str]], table: str, fmt: str, tmp_path: Path
) -> None:
    out = tmp_path / f"{table}.{fmt}"
    done = CliRunner().invoke(app, ["export", str(showcase[0]), "--what", table, "--format", fmt, "-o", str(out)])
    assert done.exit_code == 0, done.output
    rows = load(out, fmt, table)
    with Archive.open(showcase[0], readonly=True) as archive:
        wanted = expected(archive, table)
    assert len(rows) == len(wanted) > 0
    assert all(list(row) == [c.name for c in TABLES[table].columns] for row in rows)
    for got, want in zip(rows, wanted, strict=True):
        for key, value in want.items():
            assert same(got[key], value, fmt), (table, fmt, key, got[key], value)


def test_the_best_agent_and_hostile_text_survive_the_export(showcase: tuple[Path, dict[str, str]]) -> None:
    with Archive.open(showcase[0], readonly=True) as archive:
        rows = list(TABLES["nodes"].rows(archive))
        events = list(TABLES["events"].rows(archive))
    best = [row[0] for row in rows if row[-1]]
    assert best == [showcase[1]["child"]]
    assert any("<script>window.__pwned" in row[-1] for row in events)  # kept as text, verbatim


def test_exports_stream_memory_stays_flat_with_archive_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten times the rows, about the same peak memory: rows go out a batch at a time (batches of 100 here, so
    both archives span many batches)."""
    monkeypatch.setattr(tables, "BATCH", 100)

    def peak(results: int) -> int:
        root = tmp_path / f"c{results}"
        with Archive.create(root, "big") as archive:
            node = archive.propose("agent")
            archive.attach_code(node.id, root.parent / "code")
            tasks = [f"t{i}" for i in range(results)]
            with archive.transaction():
                archive.set_status(node.id, "evaluating")
                archive.record_stage(node.id, "toy", "1", "all", tasks)
                for task in tasks:
                    archive.record_result(
                        ResultRecord(node.id, EvaluatorKey("toy", "1"), task, status="unresolved", detail="x" * 200)
                    )
        with Archive.open(root, readonly=True) as archive, open(os.devnull, "w") as sink:
            tracemalloc.start()
            for table in ("results", "events"):
                write_table(archive, TABLES[table], "jsonl", sink)
            size = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return size

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "a.py").write_text("x = 1\n")
    small, large = peak(1_000), peak(10_000)
    assert large < 2 * small, (small, large)


def test_readme_snippet_loads_exports_into_pandas_and_datasets(
    showcase: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The README's loading snippet, run as written against this campaign's exports."""
    section = README.read_text().split("<!-- export-snippet -->", 1)[1]
    shell, python = re.findall(r"```(?:bash|python)\n(.*?)```", section, re.DOTALL)[:2]
    for line in shell.strip().splitlines():
        command = line.split("#")[0].strip().replace("opendgm ", f"{sys.executable} -m opendgm.cli ", 1)
        command = command.replace("campaigns/demo", str(showcase[0]))
        subprocess.run(command, shell=True, check=True, cwd=tmp_path, timeout=120)
    scope: dict[str, Any] = {}
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        exec(python, scope)  # the snippet's own names: results, calls, resolved_rate, dataset
    finally:
        os.chdir(cwd)
    with Archive.open(showcase[0], readonly=True) as archive:
        wanted = expected(archive, "results")
    assert len(scope["results"]) == len(wanted) and scope["dataset"].num_rows == len(wanted)
    assert scope["resolved_rate"].to_dict() == pytest.approx(
        {n: sum(r["resolved"] for r in wanted if r["node_id"] == n) / sum(r["node_id"] == n for r in wanted)
         for n in {r["node_id"] for r in wanted}}
    )  # fmt: skip


def test_docs_list_every_column_as_the_code_defines_it() -> None:
    from opendgm.archive.tables import describe_columns

    assert describe_columns() in (Path(__file__).parents[2] / "docs" / "exports.md").read_text()
