"""Smoke tests of the throughput benchmarks at tiny sizes (the benchmarks themselves are not run in CI): each runs
end to end, checks what it asserts, and prints its goals against the baseline measured in the same run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import archive_scale
import dashboard_tree
import grading_throughput

from opendgm.evolve.selectors import SELECTORS


def test_archive_scale_prints_selection_and_tree_goals_against_the_full_query(capsys) -> None:
    rows = {name: (figure, note) for name, figure, note in archive_scale.main(["--nodes", "120", "--max-depth", "20"])}
    assert rows["deepest: git == replay == generated"][0] == "yes"
    for selector in SELECTORS:  # every selector, each against the baseline of the same run
        note = rows[f"selection: summaries + {selector} draw (k=2)"][1]
        assert "x faster than the baseline" in note and "goal < 50 ms" in note, selector
    assert "122 lines; " in rows["tree --all render to a string"][1]  # title, best agent, 120 nodes
    assert "x the baseline; per 10,000 nodes" in rows["tree --all render to a string"][1]
    assert "x the baseline (the goal is at 10,000 nodes)" in rows["`opendgm tree DIR --all`, the command"][1]
    assert "baseline: full summary query" in capsys.readouterr().out


def test_dashboard_tree_prints_the_endpoint_goal_against_the_full_query(tmp_path: Path, capsys) -> None:
    rows = {name: (seconds, note) for name, seconds, note in dashboard_tree.main(["--nodes", "150", "--runs", "2"])}
    assert "150 nodes" in rows["GET /api/bench/tree"][1] and "goal < 500 ms" in rows["GET /api/bench/tree"][1]
    for change in ("a change", "a new node"):
        assert "x the baseline; goal < 500 ms" in rows[f"GET /api/bench/tree after {change}"][1]
    assert "x the baseline; goal < 500 ms" in rows["GET /api/bench/tree?x=false after a new node"][1]
    assert "x the baseline" in rows["GET /api/bench/progress"][1]
    assert "baseline: full summary query" in capsys.readouterr().out


def test_grading_throughput_resolves_every_solution_and_no_stub_on_the_local_backend(
    local_isolation: None, capsys
) -> None:
    figures = grading_throughput.main(["--limit", "3", "--backends", "local"])
    assert set(figures) == {"native_s", "local_s"}
    out = capsys.readouterr().out
    assert "checked: 3/3 canonical solutions resolved and 0/3 stubs on local" in out and "x native" in out


@pytest.mark.docker
def test_grading_throughput_on_docker_prints_the_ratio_to_the_floor(docker_engine: str, capsys) -> None:
    figures = grading_throughput.main(["--limit", "2", "--backends", "docker", "--rounds", "2"])
    assert {"docker_s", "docker_unpooled_s", "floor_s", "rounds_docker_s", "rounds_floor_s"} <= set(figures)
    out = capsys.readouterr().out
    assert "blocks: docker <= 1.3x floor" in out and "round 2: docker | floor" in out and "rounds: docker" in out
