"""Agents and the contract every agent follows (see CONTRACT.md beside this file)."""

from opendgm.agents.contract import (
    AGENT_DIR,
    AGENT_ENV,
    GATEWAY_CLIENT_PATH,
    REPO_DIR,
    SEED_AGENTS,
    TASK_FILE,
    TRAJECTORY_FILE,
    agent_command,
    agent_mounts,
    agent_source,
    seed_agent_dir,
    self_test_command,
)

__all__ = [
    "AGENT_DIR",
    "AGENT_ENV",
    "GATEWAY_CLIENT_PATH",
    "REPO_DIR",
    "SEED_AGENTS",
    "TASK_FILE",
    "TRAJECTORY_FILE",
    "agent_command",
    "agent_mounts",
    "agent_source",
    "seed_agent_dir",
    "self_test_command",
]
