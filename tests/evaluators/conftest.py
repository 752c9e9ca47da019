"""Fixtures of the evaluator tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# An "agent" that records every file it can find anywhere in its sandbox, as its change to the repository.
SNOOPING_AGENT = """\
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--repo")
args, _ = parser.parse_known_args()
seen = []
for top in ("/workspace", "/agent", "/run", "/tmp", "/opt", "/srv", "/root", "/home", "/usr/local"):
    for folder, _, files in os.walk(top):
        seen += [os.path.join(folder, name) for name in files]
with open(os.path.join(args.repo, "seen.txt"), "w") as out:
    out.write("\\n".join(sorted(seen)) + "\\n")
"""


@pytest.fixture
def snooping_agent() -> Iterator[Path]:
    """The agent's code directory, readable by the sandbox user (pytest's own temporary folders are not)."""
    folder = Path(tempfile.mkdtemp(prefix="odgm-agent-"))
    folder.chmod(0o755)
    (folder / "agent.py").write_text(SNOOPING_AGENT)
    yield folder
    shutil.rmtree(folder)
