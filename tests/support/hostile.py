"""Hostile agents for the security tests: each is the seed agent's folder with `agent.py` replaced.

An agent is whatever code the campaign evolved, so these speak the agent contract (the same command-line
arguments, a trajectory with an exit record) and then attack the host from inside the sandbox.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from opendgm.agents.contract import seed_agent_dir

# The contract's arguments and a well-formed exit record; `BODY` runs between them with `repo` set.
AGENT = """\
import argparse, json, os, pathlib, subprocess, sys
parser = argparse.ArgumentParser()
for flag in ("--task", "--repo", "--trajectory", "--max-steps", "--time-limit-s"):
    parser.add_argument(flag)
args = parser.parse_args()
repo = pathlib.Path(args.repo)
{body}
pathlib.Path(args.trajectory).parent.mkdir(parents=True, exist_ok=True)
pathlib.Path(args.trajectory).write_text(json.dumps({{"type": "exit", "status": "submitted"}}) + "\\n")
"""


def hostile_agent(folder: Path, body: str) -> Path:
    """A copy of the seed agent at `folder` whose `agent.py` runs `body` (Python, `repo` is the repository)."""
    shutil.copytree(seed_agent_dir(), folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "agent.py").write_text(AGENT.format(body=body))
    return folder
