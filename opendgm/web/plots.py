"""PNG pictures of a campaign with matplotlib (Agg, no display): progress curves and the archive tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from opendgm.archive import Archive
from opendgm.web import views

MARKERS = {"agent": "o", "prompt": "s", "meta_prompt": "D", "rubric": "^"}
DIMMED = {"rejected", "failed"}
SCORES = plt.get_cmap("RdYlGn").with_extremes(bad="#c4c4c4")  # grey: no score yet


def progress_png(archive: Archive, path: Path) -> Path:
    """Best and mean score against nodes created (left) and against cumulative spend (right; tokens when every
    call was free, since $0 says nothing about the work done)."""
    data = views.progress(archive)
    free = data["total_cost_usd"] == 0
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    panels = (
        (axes[0], "by_node", "agent nodes created"),
        (axes[1], "by_tokens", "tokens used (every call was free)") if free else (axes[1], "by_spend", "spend (USD)"),
    )
    for axis, key, label in panels:
        points = data[key]
        xs = [p["x"] for p in points]
        axis.set(xlabel=label, ylabel="score", ylim=(-0.02, 1.02))
        axis.grid(alpha=0.3)
        if not points:
            axis.text(0.5, 0.5, "no agent has a score yet", ha="center", va="center", transform=axis.transAxes)
            continue
        axis.scatter(xs, [p["score"] for p in points], s=14, color="0.6", label="node score", zorder=3)
        axis.step(xs, [p["best"] for p in points], where="post", color="tab:green", label="best", marker="o", ms=3)
        axis.plot(xs, [p["mean"] for p in points], color="tab:blue", label="mean", marker="o", ms=3)
        _sensible_x(axis, xs, None if key == "by_node" else data["total_tokens" if free else "total_cost_usd"])
        axis.legend(loc="lower right")
    spent = f"${data['total_cost_usd']:.4f}" + (f", {data['total_tokens']:,} tokens" if free else "")
    figure.suptitle(f"{archive.campaign}: {data['scored']} scored of {data['agents']} agents, {spent} spent")
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _sensible_x(axis: Any, xs: list[float], total: float | None) -> None:
    """An x range that shows the points even when there is one, or when all share one x ($0 spent so far).

    Nodes created: integer ticks around the points. Spend or tokens: from 0 to the campaign's total, which is
    never negative and may lie beyond the last score (calls after the last evaluation)."""
    low, high = min(xs), max(xs)
    if total is None:
        pad = (high - low) * 0.05 if high > low else 1.0
        axis.set_xlim(low - pad, high + pad)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        return
    right = max(high, total) or 1.0
    axis.set_xlim(-right * 0.03, right * 1.05)  # points at 0 stay off the frame


def tree_png(archive: Archive, path: Path) -> Path:
    """Every node at its tidy-layout place: colour = score, marker = kind, grey x = rejected or failed; the path
    to the best agent in gold; node ids where they fit (all of them in a small tree, the best agent, its path and
    the best-scored otherwise)."""
    data = views.tree(archive)
    rows = [dict(zip(data["fields"], row, strict=True)) for row in data["nodes"]]
    place = {row["id"]: (row["x"], -row["depth"]) for row in rows}
    width = max((row["x"] for row in rows), default=0) + 1
    height = max((row["depth"] for row in rows), default=0) + 1
    size = (min(40, max(8, 4 + width * 0.45)), min(30, 3 + height * 0.6))
    figure, axis = plt.subplots(figsize=size, layout="constrained")
    segments = [(place[row["parent"]], place[row["id"]]) for row in rows if row["parent"] in place]
    axis.add_collection(LineCollection(segments, colors="0.75", linewidths=0.6, zorder=1))
    typed = [(place[src], place[dst]) for src, dst, _ in data["edges"] if src in place and dst in place]
    axis.add_collection(LineCollection(typed, colors="tab:purple", linewidths=0.6, linestyles="dashed", zorder=1))
    best_path = [place[node] for node in data["best_path"] if node in place]
    if len(best_path) > 1:
        axis.plot(*zip(*best_path, strict=True), color="#d49b00", linewidth=2.5, zorder=1.5)
    kinds = [kind for kind in MARKERS if any(row["kind"] == kind for row in rows)]
    drawn = [_draw(axis, [row for row in rows if row["kind"] == kind], MARKERS[kind], place) for kind in kinds]
    if drawn:  # every kind shares one colour scale
        figure.colorbar(drawn[0], ax=axis, label="score (latest stage; grey: none)", shrink=0.6)
    best = data["best"]["id"] if data["best"] else None
    if best:
        axis.scatter(*place[best], marker="*", s=260, color="#d49b00", edgecolors="0.2", linewidths=0.6, zorder=4)
    _label(axis, rows, place, figure, best, set(data["best_path"]))
    handles = [Line2D([], [], ls="", marker=MARKERS[kind], mfc="0.8", mec="0.3", label=kind) for kind in kinds]
    handles.append(Line2D([], [], ls="", marker="x", color="0.3", label="rejected / failed"))
    handles.append(Line2D([], [], color="#d49b00", lw=2.5, marker="*", ms=10, label="best agent and its path"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small")
    axis.set_axis_off()
    axis.autoscale_view()
    margin = max(0.6, width * 0.02)
    axis.set_xlim(-margin, width - 1 + margin * 3)
    axis.set_ylim(-(height - 1) - 0.6, 0.6)
    best_text = data["best"]["summary"] if data["best"] else data["best_note"]
    axis.set_title(f"{archive.campaign}: {len(rows)} nodes\nbest agent {best_text}", fontsize="medium")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _label(
    axis: Any,
    rows: list[dict[str, Any]],
    place: dict[str, tuple[float, int]],
    figure: Any,
    best: str | None,
    path: set[str],
) -> None:
    """Node ids beside their markers, most notable first, skipping any that would overlap one already drawn."""
    rank = {row["id"]: (row["id"] != best, row["id"] not in path, -(row["score"] or -1)) for row in rows}
    renderer = figure.canvas.get_renderer()
    taken: list[Any] = []
    for row in sorted(rows, key=lambda row: rank[row["id"]])[:400]:
        x, y = place[row["id"]]
        notable = row["id"] == best or row["id"] in path
        label = axis.annotate(
            row["id"], (x, y), xytext=(5, 4), textcoords="offset points", fontsize=8,
            fontweight="bold" if notable else "normal", color="#7a5200" if notable else "0.15", zorder=5,
        )  # fmt: skip
        box = label.get_window_extent(renderer)
        if any(box.overlaps(other) for other in taken):
            label.remove()
            continue
        taken.append(box)


def _draw(axis: Any, group: list[dict[str, Any]], marker: str, place: dict[str, tuple[float, int]]) -> Any:
    xs, ys = zip(*(place[row["id"]] for row in group), strict=True)
    scores = [float("nan") if row["score"] is None else row["score"] for row in group]
    drawn = axis.scatter(
        xs,
        ys,
        c=scores,
        cmap=SCORES,
        vmin=0,
        vmax=1,
        marker=marker,
        s=28,
        edgecolors="0.3",
        linewidths=0.4,
        plotnonfinite=True,
        zorder=2,
    )
    dim = [place[row["id"]] for row in group if row["status"] in DIMMED]
    if dim:
        axis.scatter(*zip(*dim, strict=True), marker="x", color="0.3", s=20, zorder=3)
    return drawn
