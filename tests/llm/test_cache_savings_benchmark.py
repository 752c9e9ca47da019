"""Smoke test of benchmarks/cache_savings.py on a shorter trajectory: caching on Anthropic-style prices saves at
least the goal's 60% of input cost, OpenAI-style automatic caching about half of that, and a varying prefix
nothing; the trajectory is as stable as asked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.llm_fakes import SECRET, SECRET_ENV

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import cache_savings


def test_the_benchmark_meets_its_goal_on_a_short_trajectory(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)

    figures = cache_savings.main(["--steps", "8", "--start", "1500"])

    assert figures["stability"] == pytest.approx(0.9, abs=0.005)
    assert figures["anthropic"] >= cache_savings.GOAL
    assert 0.30 < figures["openai_style"] < 0.50  # cached reads at half price on ~90% of the prompt, less the first
    assert abs(figures["varying_prefix"]) < 0.01
    assert "goal: at least 60%: met" in capsys.readouterr().out
