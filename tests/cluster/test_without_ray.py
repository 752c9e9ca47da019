"""Where Ray is not installed, `executor: {kind: ray}` is refused with one line (exit 2) and nothing is touched;
`kind: local` and configs without an `executor` block run as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opendgm.cluster import ExecutorConfig, make_executor
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evolve.config import CampaignConfig, ConfigProblem

# Runs the CLI as if Ray were not installed (an import of it fails), whatever this environment holds.
WITHOUT_RAY = "import sys; sys.modules['ray'] = None; from opendgm.cli import main; sys.argv[0] = 'opendgm'; main()"
CONFIG = """name: clustered
llm: {roles: {agent: {model: openai/x, api_base: 'http://127.0.0.1:9/v1'}, meta: {model: openai/x, api_base: 'http://127.0.0.1:9/v1'}}}
executor: {kind: ray, address: auto}
"""


def opendgm_without_ray(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_RAY, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def test_kind_ray_without_ray_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    done = opendgm_without_ray("run", "c.yaml", "--dir", "camp", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "error: executor kind `ray` needs Ray: pip install 'opendgm[ray]'"
    assert not (tmp_path / "camp").exists(), "nothing was created"
    done = opendgm_without_ray("evaluate", "seed", "--executor", "ray", "--campaign", "camp", cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "error: executor kind `ray` needs Ray: pip install 'opendgm[ray]'",
    )


def test_the_executor_block_is_checked_and_local_needs_no_ray(tmp_path: Path) -> None:
    roles = {"agent": {"model": "m"}, "meta": {"model": "m"}}
    config = CampaignConfig.model_validate({"llm": {"roles": roles}, "workers": 3})
    assert config.executor.kind == "local"
    executor = make_executor(config)
    assert isinstance(executor, LocalExecutor) and executor.workers == 3
    executor.shutdown()
    bad = tmp_path / "bad.yaml"
    bad.write_text("llm: {roles: {agent: {model: m}, meta: {model: m}}}\nexecutor: {kind: slurm}\n")
    with pytest.raises(ConfigProblem, match=r"executor.kind: Input should be 'local' or 'ray'"):
        CampaignConfig.load(bad)
    bad.write_text("llm: {roles: {agent: {model: m}, meta: {model: m}}, replay: {mode: record, path: r.db}}\n"
                   "executor: {kind: ray}\n")  # fmt: skip
    with pytest.raises(ConfigProblem, match=r"llm\.replay is kept by the campaign's process"):
        CampaignConfig.load(bad)
    assert ExecutorConfig().kind == "local"
