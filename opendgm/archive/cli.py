"""`opendgm tree | show | diff | export`: read-only views of a campaign archive, safe on a live campaign."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import COLOR_SYSTEMS, Console, Group
from rich.panel import Panel
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from opendgm.archive import credit
from opendgm.archive import graph as graphs
from opendgm.archive.archive import Archive, unreadable
from opendgm.archive.best import best_agent, best_path, why_none
from opendgm.archive.credit import Fitness
from opendgm.archive.errors import ArchiveError
from opendgm.archive.models import NodeSummary, Score
from opendgm.archive.predictions import write_predictions
from opendgm.archive.tables import FORMATS, TABLES, write_table
from opendgm.usage import UsageMistake

app = typer.Typer(help="Inspect a campaign archive (read-only).", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

_STATUS_STYLE = {
    "proposed": "cyan",
    "modifying": "cyan",
    "built": "blue",
    "validating": "yellow",
    "evaluating": "yellow",
    "evaluated": "green",
    "rejected": "dim",
    "failed": "dim red",
}
_DIMMED = {"rejected", "failed"}


@contextmanager
def _reading(campaign_dir: Path, check_code: bool = True) -> Iterator[Archive]:
    """The archive opened read-only; any ArchiveError becomes one line on stderr and exit status 2. A view that
    never reads agents' code passes `check_code=False` (checking every node's objects is most of its cost); a
    damaged page it meets later while reading is named with its archive, as the open would have named it."""
    try:
        with Archive.open(campaign_dir, readonly=True, check_code=check_code) as archive:
            try:
                yield archive
            except sqlite3.DatabaseError as damage:
                if damage.sqlite_errorcode not in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                    raise
                raise unreadable(campaign_dir, damage) from None
    except ArchiveError as error:
        errors.print(Text.assemble(("error:", "red"), f" {error}"), soft_wrap=True)
        raise typer.Exit(2) from None


def _stage_text(score: Score, scorer: str = "", stale: bool = False) -> str:
    """One stage's score, prefixed by its `scorer` when a node is scored by several; `stale` when it was made
    before an accepted change of evaluator or stages."""
    done = "" if score.complete else f", {score.n_done} done"
    where = f"{scorer} {score.stage}" if scorer else score.stage
    return f"{where} {score.score:.2f} ({score.n_resolved}/{score.n_tasks}{done})" + (" stale" if stale else "")


def _key(score: Score) -> tuple[str, str, str]:
    return (score.evaluator, score.evaluator_version, score.stage)


def _scorer(score: Score, scores: list[Score]) -> str:
    """How to tell this score's scorer from the node's others: nothing when there is one, the evaluator
    when there are several (gold and judge), its version when one evaluator has several (a judge's rubrics)."""
    if len(scores) == 1 or len({(s.evaluator, s.evaluator_version) for s in scores}) == 1:
        return ""
    versions = {s.evaluator_version for s in scores if s.evaluator == score.evaluator}
    return score.evaluator_version if len(versions) > 1 else score.evaluator


Segment = tuple[str, str]  # text, rich style name ("" for none)
_END: tuple[Segment] = (("\n", ""),)  # a line's end


def _label(
    row: NodeSummary, scores: list[Score], record: Fitness | None, stale: set[tuple[str, str, str]]
) -> list[Segment]:
    label = [(row.id, "bold"), (f" {row.kind} ", ""), (row.status, _STATUS_STYLE[row.status])]
    label.append((f" {row.operator or '-'}", ""))
    if scores:
        texts = [_stage_text(score, _scorer(score, scores), _key(score) in stale) for score in scores]
        label.append(("  " + " · ".join(texts), "magenta"))
    if record is not None:
        mean = "not judged yet" if record.mean_gain is None else f"{record.mean_gain:+.3f}"
        label.append((f"  fitness {mean} ({len(record.gains)} judged of {record.uses} children)", "cyan"))
    if row.status in _DIMMED:
        label.append((f"  {row.status_reason or ''}".rstrip(), "italic"))
        label = [(text, f"{style} dim".strip()) for text, style in label]
    return label


def tree_lines(archive: Archive, max_depth: int | None = None) -> tuple[list[list[Segment]], int]:
    """The tree as lines of styled segments (title first): every node under its parent with id, kind, status,
    operator, score per stage, a meta-prompt's fitness (rejected and failed nodes dimmed, with their reason),
    the best agent and the path to it marked; nodes deeper than `max_depth` left out. Returns the lines and how
    many nodes were left out. Drawn here, not by rich's Tree (whose layout of 10^4 deep lines takes seconds)."""
    with archive.snapshot():
        rows = archive.summaries(kind=None)
        scores = archive.scores_by_node()
        records = credit.fitness(archive, scores)
        stale = archive.stale_scores()
    best = best_agent(rows)
    path = set(best_path(rows, best.id)) if best else set()
    title = f"campaign {archive.campaign} ({len(rows)} nodes)"
    lines = [[(title, "bold")], [(f"best agent {best.describe()}" if best else f"best agent: {why_none()}", "")]]
    known = {row.id for row in rows}
    children: dict[str | None, list[NodeSummary]] = {}
    for row in rows:  # creation order: siblings stay in it; a node whose parent is unknown is left out
        if row.parent_id is None or row.parent_id in known:
            children.setdefault(row.parent_id, []).append(row)
    shown = 0
    pending = [(row, 0, "", row is children[None][-1]) for row in reversed(children.get(None, []))]
    while pending:
        row, depth, prefix, last = pending.pop()
        if max_depth is not None and depth > max_depth:
            continue
        shown += 1
        label = _label(row, scores.get(row.id, []), records.get(row.id), stale)
        line = [(prefix + ("└── " if last else "├── "), ""), *label]
        if row.id in path:
            line.append(("  ★ best" if best and row.id == best.id else "  ★ path to best", "bold yellow"))
        lines.append(line)
        below = children.get(row.id, [])
        inner = prefix + ("    " if last else "│   ")
        pending.extend((child, depth + 1, inner, child is below[-1]) for child in reversed(below))
    return lines, len(rows) - shown


def print_tree(archive: Archive, max_depth: int | None, out: Console) -> int:
    """Write `tree_lines` to `out`'s file, styled when `out` has colours, never wrapped nor cropped; returns how
    many nodes were left out. Written directly: rich's own rendering costs seconds at 10^4 lines."""
    lines, cut = tree_lines(archive, max_depth)
    colours = out.color_system is not None and not out.no_color
    styles: dict[str, Style] = {}

    def styled(text: str, name: str) -> str:
        if not name:
            return text
        if name not in styles:
            styles[name] = out.get_style(name)
        return styles[name].render(text, color_system=COLOR_SYSTEMS[out.color_system or "standard"])

    if colours:
        out.file.write("".join("".join(styled(*segment) for segment in line) + "\n" for line in lines))
    else:
        out.file.write("".join([text for line in lines for text, _ in itertools.chain(line, _END)]))
    out.file.flush()
    return cut


def _task_table(archive: Archive, node_id: str) -> Table:
    table = Table(title="per-task results", title_justify="left")
    for column in ("evaluator", "task", "try", "status", "tests ✓/✗", "exit", "time s", "$", "trajectory"):
        table.add_column(column)
    for result in archive.results(node_id):
        style = "green" if result.resolved else "red"
        tests = "" if result.tests_passed is None else f"{result.tests_passed}/{result.tests_failed or 0}"
        table.add_row(
            Text(f"{result.evaluator} {result.evaluator_version}"),
            Text(result.task_id),
            str(result.attempt),
            Text(result.status, style),
            tests,
            "" if result.exit_code is None else str(result.exit_code),
            "" if result.duration_s is None else f"{result.duration_s:.1f}",
            f"{result.cost_usd:.4f}",
            Text(result.trajectory_path or ""),
        )
    return table


def _credit_table(record: Fitness) -> Table:
    table = Table(title=record.summary(), title_justify="left")
    for column in ("child", "parent", "gain"):
        table.add_column(column)
    for entry in record.credits:
        gain = Text("not judged yet", "dim") if entry.gain is None else Text(f"{entry.gain:+.3f}")
        if entry.gain is not None:
            gain.stylize("green" if entry.gain > 0 else "red" if entry.gain < 0 else "")
        table.add_row(Text(entry.child), Text(entry.parent or "-"), gain)
    return table


def _rubric_table(archive: Archive, rubric: str) -> Table:
    """MPO: each interval judged under this rubric (judge's mean score, held-out gold) and any alarm."""
    table = Table(title="judged under this rubric (MPO intervals)", title_justify="left")
    for column in ("interval", "samples", "judge mean /10", "gold mean", "unscored", "alarm"):
        table.add_column(column)
    events = archive.events(node_id=rubric)
    alarms = {e.data.get("interval"): e.data for e in events if e.kind == "reward_hacking_alarm"}
    for event in (e for e in events if e.kind == "mpo_interval"):
        data = event.data
        alarm = alarms.get(data["index"])
        flag = Text(f"fired: judge {alarm['proxy_gain']:+.2f}, gold {alarm['gold_gain']:+.2f}", "red") if alarm else ""
        table.add_row(
            str(data["index"]), str(data["n"]), _mean(data["proxy"]), _mean(data["gold"]), str(data["unscored"]), flag
        )
    return table


def _mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _score_table(scores: list[Score], stale: set[tuple[str, str, str]]) -> Table:
    table = Table(title="scores", title_justify="left")
    for column in ("evaluator", "version", "stage", "resolved", "done", "score", ""):
        table.add_column(column)
    for score in scores:
        table.add_row(
            Text(score.evaluator),
            Text(score.evaluator_version),
            Text(score.stage),
            f"{score.n_resolved}/{score.n_tasks}",
            f"{score.n_done}/{score.n_tasks}",
            f"{score.score:.3f}",
            "stale" if _key(score) in stale else "",
        )
    return table


@app.command()
def tree(
    campaign_dir: Path = typer.Argument(..., help="The campaign directory."),
    depth: int | None = typer.Option(None, "--depth", min=0, help="Show nodes down to this depth (root: 0)."),
    show_all: bool = typer.Option(False, "--all", help="Show every node however deep (lines get long)."),
) -> None:
    """Show the archive as a tree: node, kind, status, operator and score per stage, and the best agent.

    By default the tree stops at the depth whose indentation still fits the terminal, and says how many
    nodes it left out."""
    width = console.width if console.is_terminal else 200
    limit = None if show_all else depth if depth is not None else max(1, (width - 60) // 4)
    with _reading(campaign_dir, check_code=False) as archive:
        cut = print_tree(archive, limit, Console(width=width))
    if cut:
        errors.print(f"{cut} nodes deeper than depth {limit} not shown: pass --depth N or --all", highlight=False)


@app.command()
def show(
    campaign_dir: Path = typer.Argument(..., help="The campaign directory."),
    node: str = typer.Argument(..., help="Node id, number or unique prefix."),
) -> None:
    """Everything about one node: scores, per-task results, diff to its parent, problem statement,
    trajectories, cost; for a meta-prompt, its fitness and the gain of each child it produced."""
    with _reading(campaign_dir) as archive, archive.snapshot():
        item = archive.node(archive.resolve(node))
        children = [child.id for child in archive.children(item.id)]
        facts = Table.grid(padding=(0, 2))
        facts.add_row("node", Text(f"{item.id} ({item.kind})", "bold"))
        reason = f" — {item.status_reason}" if item.status_reason else ""
        facts.add_row("status", Text(item.status + reason, _STATUS_STYLE[item.status]))
        facts.add_row("operator", Text(item.operator or "-"))
        facts.add_row("parent", Text(item.parent_id or "- (root)"))
        facts.add_row("children", Text(", ".join(children) or "-"))
        facts.add_row("code hash", Text(item.code_hash or "- (no content yet)"))
        if item.commit:
            facts.add_row("commit", Text(f"{item.commit}  (refs/nodes/{item.id})"))
        if item.message:
            facts.add_row("message", Text(item.message))
        for edge in archive.edges(item.id):
            facts.add_row("edge", Text(f"{edge.src} {edge.kind} {edge.dst}"))
        cost = archive.cost(item.id)
        facts.add_row(
            "cost",
            f"${cost.cost_usd:.4f}, {cost.tokens} tokens ({cost.prompt_tokens} in, {cost.completion_tokens} out),"
            f" {cost.calls} model calls, {cost.errors} errors",
        )
        facts.add_row("trajectories", Text(str(archive.artifacts.root)))
        meta = {key: value for key, value in item.meta.items() if key != "problem_statement"}
        if meta:
            facts.add_row("meta", Text(json.dumps(meta, sort_keys=True)))
        parts: list = [
            facts,
            _score_table(archive.scores(item.id), archive.stale_scores()),
            _task_table(archive, item.id),
        ]
        if item.kind == "rubric":
            parts.append(_rubric_table(archive, item.id))
        record = credit.fitness_of(archive, item.id)
        if record is not None:
            facts.add_row("fitness", Text(record.summary()))
            parts.append(_credit_table(record))
        if "problem_statement" in item.meta:
            parts.append(
                Panel(Text(str(item.meta["problem_statement"])), title="problem statement", title_align="left")
            )
        if item.content is not None:
            parts.append(Panel(Text(item.content), title="content", title_align="left"))
        if item.code_hash is not None:
            change = archive.diff_to_parent(item.id)
            title = f"diff against {item.parent_id}" if item.parent_id else "code (root: diff against nothing)"
            patch = Syntax(change or "(no change)", "diff", word_wrap=True)
            parts.append(Panel(patch, title=title, title_align="left"))
        console.print(Group(*parts))


@app.command()
def diff(
    campaign_dir: Path = typer.Argument(..., help="The campaign directory."),
    old: str = typer.Argument(..., help="Node id (or number / unique prefix) to diff from."),
    new: str = typer.Argument(..., help="Node id (or number / unique prefix) to diff to."),
) -> None:
    """Unified diff between two nodes' code (or text)."""
    with _reading(campaign_dir) as archive:
        change = archive.diff(archive.resolve(old), archive.resolve(new))
    if not change:
        errors.print("no differences")
    elif console.is_terminal:
        console.print(Syntax(change, "diff"))
    else:  # piped: the exact patch, so `opendgm diff A B | git apply -` works
        sys.stdout.write(change)
        sys.stdout.flush()


def export_json(archive: Archive) -> str:
    """Nodes (with depth and per-stage scores) and edges (parent and typed) as one JSON document."""
    with archive.snapshot():
        nodes, scores, edges = archive.nodes(), archive.scores_by_node(), archive.edges()
        depth = graphs.depths(archive.graph())
    best = best_agent(archive.summaries())
    document = {
        "campaign": archive.campaign,
        "meta": archive.meta(),
        "best": None if best is None else {"id": best.id, "rule": best.rule, "value": best.value},
        "nodes": [
            asdict(node)
            | {"depth": depth[node.id], "scores": [asdict(s) | {"score": s.score} for s in scores.get(node.id, [])]}
            for node in nodes
        ],
        "edges": [{"src": n.parent_id, "dst": n.id, "kind": "parent"} for n in nodes if n.parent_id]
        + [{"src": e.src, "dst": e.dst, "kind": e.kind} for e in edges],
    }
    return json.dumps(document, indent=2)


def _dot(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def export_dot(archive: Archive) -> str:
    """Graphviz DOT: parent edges solid, typed edges dashed and labelled; failed/rejected greyed."""
    with archive.snapshot():
        rows, edges = archive.summaries(kind=None), archive.edges()
    lines = [f"digraph {_dot(archive.campaign)} {{", "  node [shape=box, fontname=monospace];"]
    for row in rows:
        score = "" if row.score is None else f"\n{row.stage} {row.score:.2f}"
        grey = ", color=gray, fontcolor=gray" if row.status in _DIMMED else ""
        label = f"{row.id} {row.kind}\n{row.status} {row.operator or ''}{score}"
        lines.append(f'  "{row.id}" [label={_dot(label)}{grey}];')
    lines += [f'  "{row.parent_id}" -> "{row.id}";' for row in rows if row.parent_id]
    lines += [f'  "{e.src}" -> "{e.dst}" [style=dashed, label={_dot(e.kind)}];' for e in edges]
    return "\n".join([*lines, "}", ""])


@app.command(epilog="Columns of every table: see README.md (Exporting a campaign) or opendgm.archive.tables.")
def export(
    campaign_dir: Path = typer.Argument(..., help="The campaign directory."),
    what: str | None = typer.Option(
        None, "--what", help="A table instead of the graph: nodes | results | calls | events | trajectories."
    ),
    format: str | None = typer.Option(
        None, "--format", help="The graph: json | dot (default json). A table: jsonl | csv | parquet (default jsonl)."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    predictions: Path | None = typer.Option(
        None, "--swebench-predictions", help="Write SWE-bench's predictions JSONL of one agent to this file."
    ),
    node: str | None = typer.Option(None, "--node", help="The agent for --swebench-predictions (default: the best)."),
) -> None:
    """Export the archive graph (JSON, DOT), a table for analysis (JSONL, CSV, Parquet), or an agent's
    SWE-bench predictions for the official harness."""
    if predictions is not None:
        _export_predictions(campaign_dir, predictions, node)
        return
    if what is None:
        _export_graph(campaign_dir, format or "json", output)
        return
    if what not in TABLES:
        raise UsageMistake(f"unknown table {what!r}; use one of {', '.join(TABLES)}")
    fmt = format or "jsonl"
    if fmt not in FORMATS:
        raise UsageMistake(f"unknown table format {fmt!r}; use jsonl, csv or parquet")
    if fmt == "parquet" and output is None:
        raise UsageMistake("parquet needs a file: pass --output FILE")
    with _reading(campaign_dir) as archive:
        try:
            rows = write_table(archive, TABLES[what], fmt, output or sys.stdout)
        except RuntimeError as error:  # pyarrow missing
            errors.print(f"[red]error:[/] {error}", soft_wrap=True, highlight=False)
            raise typer.Exit(2) from None
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
    if output is not None:
        errors.print(f"wrote {rows} {what} rows to {output}", highlight=False, markup=False)


def _export_graph(campaign_dir: Path, format: str, output: Path | None) -> None:
    renderers = {"json": export_json, "dot": export_dot}
    if format not in renderers:
        raise UsageMistake(f"unknown format {format!r}; use json or dot (or --what TABLE)")
    with _reading(campaign_dir) as archive:
        text = renderers[format](archive)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        errors.print(f"wrote {output}", highlight=False, markup=False)


def _export_predictions(campaign_dir: Path, path: Path, node: str | None) -> None:
    with _reading(campaign_dir) as archive:
        if node is None:
            best = best_agent(archive.summaries())
            if best is None:
                raise ArchiveError(f"no best agent to export ({why_none()}): pass --node ID")
            node_id = best.id
        else:
            node_id = archive.resolve(node)
        with path.open("w", encoding="utf-8") as out:
            count = write_predictions(archive, node_id, out)
    if not count:
        errors.print(f"warning: {node_id} has no swebench result; {path} is empty", highlight=False, markup=False)
    errors.print(f"wrote {count} predictions of {node_id} to {path}", highlight=False, markup=False)


@app.command()
def doctor(
    campaign_dir: Path = typer.Argument(..., help="The campaign directory."),
    repair: bool = typer.Option(
        False, "--repair", help="Do the safe repairs (never while the campaign runs; never deletes a result)."
    ),
) -> None:
    """Check an archive: SQLite integrity, every node's git objects and ref, tallies against the results,
    pending model calls, temporary files of killed runs. Exit status 1 while a problem remains."""
    from opendgm.archive import doctor as checks

    try:
        if repair:
            for line in checks.repair(campaign_dir):
                console.print(Text(f"repaired: {line}"))
        findings = checks.examine(campaign_dir)
    except ArchiveError as error:
        errors.print(Text.assemble(("error:", "red"), f" {error}"), soft_wrap=True)
        raise typer.Exit(2) from None
    for finding in findings:
        hint = " (safe to repair: --repair)" if finding.repairable else ""
        console.print(Text(f"{finding.check}: {finding.detail}{hint}"), soft_wrap=True)
    if findings:
        raise typer.Exit(1)
    console.print(Text(f"{campaign_dir}: sound"))
