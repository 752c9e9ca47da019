"""Tool discovery: every `tools/*.py` module is a tool, so the agent gains a tool by gaining a file.

A tool module defines
    SPEC = {"name": ..., "description": ..., "parameters": {JSON schema of the arguments}}
    def run(**arguments) -> str            # the text the model sees
and may define
    def setup(context: ToolContext) -> None   # called once before the first call
    def close() -> None                        # called once when the run ends
A module that does not import, or lacks SPEC or run, is a broken agent: loading fails and the run stops
before the first model call, so a bad self-modification shows up as a broken child at once.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent


class ToolLoadError(Exception):
    """A tool module is missing its interface or fails to import."""


@dataclass(frozen=True)
class ToolContext:
    """What tools may need to know about the run: where the repository is and how long things may take."""

    repo: Path
    command_timeout_s: float = 120.0
    observation_chars: int = 100_000
    deadline: float | None = None  # time.monotonic() value after which the run should stop

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


class Observation(str):
    """A tool's answer: the text the model sees, plus `record`, facts for the trajectory only (an exit code)."""

    record: dict[str, Any]

    def __new__(cls, text: str, **record: Any) -> Observation:
        made = super().__new__(cls, text)
        made.record = record
        return made


@dataclass(frozen=True)
class Tool:
    """One loaded tool module."""

    name: str
    spec: dict[str, Any]
    run: Callable[..., str]
    module: ModuleType

    def setup(self, context: ToolContext) -> None:
        hook = getattr(self.module, "setup", None)
        if hook is not None:
            hook(context)

    def close(self) -> None:
        hook = getattr(self.module, "close", None)
        if hook is not None:
            hook()


def load_tools(folder: Path = HERE) -> list[Tool]:
    """Every tool in `folder`, ordered by file name; raises ToolLoadError naming the first broken one."""
    tools: list[Tool] = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        tool = _load(path)
        if any(t.name == tool.name for t in tools):
            raise ToolLoadError(f"{path.name}: a second tool named {tool.name!r}")
        tools.append(tool)
    if not tools:
        raise ToolLoadError(f"no tool modules in {folder}")
    return tools


def _load(path: Path) -> Tool:
    name = f"agent_tool_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ToolLoadError(f"{path.name}: not importable")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # registered first, as an import would: dataclasses and pickling look it up
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ToolLoadError(f"{path.name}: import failed: {type(exc).__name__}: {exc}") from exc
    spec, run = getattr(module, "SPEC", None), getattr(module, "run", None)
    if not isinstance(spec, dict) or not callable(run):
        raise ToolLoadError(f"{path.name}: a tool module needs a SPEC dict and a run(**arguments) function")
    name, description, parameters = spec.get("name"), spec.get("description"), spec.get("parameters")
    if not (isinstance(name, str) and name and isinstance(description, str) and isinstance(parameters, dict)):
        raise ToolLoadError(f"{path.name}: SPEC needs a name, a description and a parameters schema")
    return Tool(name=name, spec={"name": name, "description": description, "parameters": parameters}, run=run,
                module=module)  # fmt: skip
