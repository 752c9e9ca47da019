"""Where an agent finds its code, its task and the gateway inside a sandbox, and how it is invoked.

CONTRACT.md beside this file is the prose version; the two must agree.
"""

from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path

from opendgm.sandbox import Mount

AGENT_DIR = "/agent"
GATEWAY_CLIENT_PATH = "/run/opendgm/lib/gateway_client.py"
TASK_FILE = "/workspace/task/statement.md"
REPO_DIR = "/workspace/repo"
TRAJECTORY_FILE = "/workspace/out/trajectory.jsonl"
AGENT_ENV = {"PYTHONPATH": str(Path(GATEWAY_CLIENT_PATH).parent)}
# Built-in seed agents, by the name a config or the command line uses, and their folder in this package.
SEED_AGENTS = {"seed": "seed", "dgm-initial": "dgm_initial"}


def seed_agent_dir(name: str = "seed") -> Path:
    """A built-in seed agent's code, shipped inside the package: `seed` or `dgm-initial`."""
    if name not in SEED_AGENTS:
        raise ValueError(f"unknown built-in seed agent {name!r}; built-in: {', '.join(SEED_AGENTS)}")
    return Path(str(resources.files("opendgm.agents") / SEED_AGENTS[name]))


def agent_source(name_or_path: str) -> Path:
    """The code directory a config or command line names: a built-in seed by its name, else a path."""
    return seed_agent_dir(name_or_path) if name_or_path in SEED_AGENTS else Path(name_or_path)


def gateway_client_file() -> Path:
    return Path(str(resources.files("opendgm.llm") / "gateway_client.py"))


def agent_mounts(agent_dir: Path) -> list[Mount]:
    """The agent's code and the gateway client, both read-only."""
    return [
        Mount(host_path=agent_dir.resolve(), sandbox_path=AGENT_DIR),
        Mount(host_path=gateway_client_file(), sandbox_path=GATEWAY_CLIENT_PATH),
    ]


def agent_command(max_steps: int | None = None, time_limit_s: float | None = None) -> str:
    """The shell command that runs the agent on the task in the workspace."""
    argv = ["python3", f"{AGENT_DIR}/agent.py", "--task", TASK_FILE, "--repo", REPO_DIR]
    argv += ["--trajectory", TRAJECTORY_FILE]
    if max_steps is not None:
        argv += ["--max-steps", str(max_steps)]
    if time_limit_s is not None:
        argv += ["--time-limit-s", f"{time_limit_s:g}"]
    return shlex.join(argv)


def self_test_command() -> str:
    """The agent's own test suite, run from its read-only code directory."""
    return f"cd {AGENT_DIR} && python3 -m unittest discover -s tests"
