"""A tiny run of benchmarks/fault_soak.py: every fault kind fires (the provider's own log), one container of the
campaign is disturbed, and the campaign still ends with the undisturbed run's verdicts and nothing left over."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))

import fault_soak

pytestmark = pytest.mark.docker


def test_fault_soak_smoke(docker_engine: str) -> None:
    argv = ["--rate", "0", "--disturbances", "1", "--gap", "2", "--role-timeout", "1", "--tasks", "HumanEval_0"]
    assert fault_soak.main(argv) == 0
