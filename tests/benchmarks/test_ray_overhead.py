"""Smoke test of benchmarks/ray_overhead.py at tiny sizes: both parts run end to end and print their ratios."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.ray_cluster import LocalCluster

pytest.importorskip("ray", reason="the `ray` extra is not installed")
sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import ray_overhead


@pytest.mark.ray
def test_ray_overhead_prints_the_per_task_overhead_and_the_head_cost_per_unit(cluster: LocalCluster, capsys) -> None:
    tiny = ["--tasks", "3", "--task-s", "0.2", "--nodes", "2", "4", "--sim-task-s", "0.01"]
    figures = ray_overhead.main([*tiny, "--address", cluster.address])
    assert figures["real"]["nodes_seen"] >= 2, "the units ran on several nodes"
    assert all(sim["recorded"] == sim["units"] for sim in figures["simulated"].values()), "every unit recorded once"
    out = capsys.readouterr().out
    assert "of a task's wall time (goal < 5%)" in out and "x baseline" in out
