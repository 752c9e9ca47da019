"""PNG pictures of a campaign with matplotlib (Agg, no display): progress curves and the archive tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from opendgm.archive import Archive
from opendgm.web import views

MARKERS = {"agent": "o", "prompt": "s", "meta_prompt": "D", "rubric": "^"}
DIMMED = {"rejected", "failed"}
SCORES = plt.get_cmap("RdYlGn").with_extremes(bad="#c4c4c4")  # grey: no score yet


def progress_png(archive: Archive, path: Path) -> Path:
    """Best and mean score against nodes created (left) and against cumulative spend (right)."""
    data = views.progress(archive)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    for axis, key, label in ((axes[0], "by_node", "agent nodes created"), (axes[1], "by_spend", "spend (USD)")):
        points = data[key]
        xs = [p["x"] for p in points]
        axis.scatter(xs, [p["score"] for p in points], s=8, color="0.7", label="node score")
        axis.step(xs, [p["best"] for p in points], where="post", color="tab:green", label="best")
        axis.plot(xs, [p["mean"] for p in points], color="tab:blue", label="mean")
        axis.set(xlabel=label, ylabel="score", ylim=(-0.02, 1.02))
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right")
    figure.suptitle(
        f"{archive.campaign}: {data['scored']} scored of {data['agents']} agents, ${data['total_cost_usd']:.4f} spent"
    )
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def tree_png(archive: Archive, path: Path) -> Path:
    """Every node at its tidy-layout place: colour = score, marker = kind, grey x = rejected or failed."""
    data = views.tree(archive)
    rows = [dict(zip(data["fields"], row, strict=True)) for row in data["nodes"]]
    place = {row["id"]: (row["x"], -row["depth"]) for row in rows}
    width = max((row["x"] for row in rows), default=0) + 1
    height = max((row["depth"] for row in rows), default=0) + 1
    figure, axis = plt.subplots(figsize=(min(40, 4 + width * 0.25), min(30, 3 + height * 0.5)), layout="constrained")
    segments = [(place[row["parent"]], place[row["id"]]) for row in rows if row["parent"] in place]
    axis.add_collection(LineCollection(segments, colors="0.75", linewidths=0.6, zorder=1))
    typed = [(place[src], place[dst]) for src, dst, _ in data["edges"] if src in place and dst in place]
    axis.add_collection(LineCollection(typed, colors="tab:purple", linewidths=0.6, linestyles="dashed", zorder=1))
    kinds = [kind for kind in MARKERS if any(row["kind"] == kind for row in rows)]
    drawn = [_draw(axis, [row for row in rows if row["kind"] == kind], MARKERS[kind], place) for kind in kinds]
    if drawn:  # every kind shares one colour scale
        figure.colorbar(drawn[0], ax=axis, label="score (latest stage; grey: none)", shrink=0.6)
    handles = [Line2D([], [], ls="", marker=MARKERS[kind], mfc="0.8", mec="0.3", label=kind) for kind in kinds]
    handles.append(Line2D([], [], ls="", marker="x", color="0.3", label="rejected / failed"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small")
    axis.set_axis_off()
    axis.autoscale_view()
    axis.set_title(f"{archive.campaign}: {len(rows)} nodes")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


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
