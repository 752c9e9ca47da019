"""The library API: the README's example runs as written (a scripted model behind its config, real sandboxes),
and `opendgm` exports the typed functions it shows."""

from __future__ import annotations

import contextlib
import inspect
import io
import re
from pathlib import Path

import pytest
import yaml

import opendgm
from opendgm.api import EvaluationResult, RunResult
from tests.support.scripted_models import CapabilityScript

README = Path(__file__).parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- library-example -->\n```python\n(.*?)```", text, re.DOTALL)
    assert found, "README.md has no library example"
    return found.group(1)


def test_the_readme_library_example_runs_as_written(
    script: CapabilityScript, docker_engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = readme_example()
    assert len(example.strip().splitlines()) <= 12, "the example stays about ten lines"
    role = {"model": "openai/scripted", "api_base": script.base_url, "max_tokens": 64, "timeout_s": 10}
    config = {
        "name": "quickstart",
        "llm": {"roles": {"agent": role, "meta": role}, "retry": {"attempts": 1}},
        "evaluator": {"name": "humaneval"},
        "stages": [{"subset": "HumanEval_0,HumanEval_2"}],
        "generations": 1,
        "children_per_generation": 1,
        "sandbox": {"backend": "docker"},
        "self_improve": {"timeout_s": 120, "max_steps": 5},
    }
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "quickstart.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, str(README), "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "done: 1 generations 0", lines
    assert [line.split()[:2] for line in lines[1:3]] == [["n0004", "seed"], ["n0005", "self_improve"]], lines
    resolved = re.fullmatch(r"(\d+)/2 resolved with (\d+) model calls", lines[-1])
    assert resolved and int(resolved.group(2)) > 0, lines  # the seed ran on two tasks with the config's model
    with opendgm.open_archive("campaigns/adhoc") as archive:
        assert [node.operator for node in archive.nodes(kind="agent")] == ["import"]


def test_the_package_exports_the_typed_api() -> None:
    assert set(opendgm.__all__) >= {"run", "evaluate", "open_archive", "load_config"}
    assert inspect.signature(opendgm.run).return_annotation in (RunResult, "RunResult")
    assert inspect.signature(opendgm.evaluate).return_annotation in (EvaluationResult, "EvaluationResult")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        opendgm.nothing  # noqa: B018
