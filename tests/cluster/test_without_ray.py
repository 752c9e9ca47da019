"""Where Ray is not installed, `executor: {kind: ray}` is refused with one line (exit 2) and nothing is touched;
`kind: local` and configs without an `executor` block run as before."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from opendgm.cli import main
from opendgm.cluster import ExecutorConfig, make_executor
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evolve.config import CampaignConfig, ConfigProblem

CONFIG = """name: clustered
llm: {roles: {agent: {model: openai/x, api_base: 'http://127.0.0.1:9/v1'}, meta: {model: openai/x, api_base: 'http://127.0.0.1:9/v1'}}}
executor: {kind: ray, address: auto}
"""
REFUSAL = "error: executor kind `ray` needs Ray: pip install 'opendgm[ray]'"


def opendgm(*args: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """The console entry point, as if Ray were not installed (importing it fails, whatever this venv holds)."""
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setattr(sys, "argv", ["opendgm", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0)


def test_kind_ray_without_ray_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(CONFIG)
    assert opendgm("run", "c.yaml", "--dir", "camp", monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err.strip() == REFUSAL
    assert not (tmp_path / "camp").exists(), "nothing was created"
    assert opendgm("evaluate", "seed", "--executor", "ray", "--campaign", "camp", monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err.strip() == REFUSAL
    assert not (tmp_path / "camp").exists()


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
