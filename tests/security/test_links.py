"""Holes 1 and 2: the host never follows (or writes through) a link in an agent's tree.

A hostile agent plants links to the campaign's environment (`/proc/self/environ`, holding a canary API
key) and to a file only the host's user can read, in its seed or in the child it writes of itself. The
campaign runs as a real `opendgm run` (so the canary is in the host process's own environment); then
nothing the campaign stored or sent may hold either canary.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from opendgm.archive import Archive
from tests.support.cli_batch import run_commands
from tests.support.hostile import hostile_agent
from tests.support.llm_fakes import FakeProvider, Reply, completion

KEY_ENV = "OPENDGM_CANARY_API_KEY"
STATEMENT = "Make the agent read its whole repository before it answers, and keep notes of what it found."
# In a self-modification run the repository is the agent's own code: keep what the host copied in for a
# link, and plant the links (again) so the child carries them.
THIEF = """
targets = {{"leak": "/proc/self/environ", "rootonly": {root_only!r}}}
if (repo / "agent.py").exists():
    for name, target in targets.items():
        path = repo / name
        if path.is_file() and not path.is_symlink():
            (repo / f"stolen-{{name}}.txt").write_bytes(path.read_bytes())
        elif not os.path.lexists(path):
            os.symlink(target, path)
    (repo / "notes.txt").write_text("self-modified\\n")
else:
    (repo / "answer.txt").write_text("a change\\n")
"""


def campaign_config(provider: FakeProvider, backend: str) -> dict:
    role = {"model": "openai/fake", "api_base": provider.base_url, "api_key_env": KEY_ENV, "timeout_s": 20}
    return {
        "name": "links",
        "llm": {"roles": {"agent": role, "meta": role}, "retry": {"attempts": 1}},
        "stages": [{"subset": "HumanEval_0"}],
        "generations": 2,
        "children_per_generation": 1,
        "workers": 1,
        "selector": "hill_climb",  # the newest of the best: the second child grows from the first
        "sandbox": {"backend": backend},
        "self_improve": {"timeout_s": 120, "max_steps": 3, "self_test": False},
    }


def opendgm(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from opendgm.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)


def stored_bytes(root: Path) -> list[tuple[str, bytes]]:
    """Every byte the campaign stored: each git object of agents.git, each file (artifacts unzipped)."""
    git = root / "agents.git"
    objects = subprocess.run(
        ["git", "--git-dir", str(git), "cat-file", "--batch-all-objects", "--batch"], capture_output=True, check=True
    ).stdout
    found = [("agents.git objects", objects)]
    for path in sorted(p for p in root.rglob("*") if p.is_file() and git not in p.parents):
        data = path.read_bytes()
        found.append((str(path), gzip.decompress(data) if path.suffix == ".gz" else data))
    return found


@pytest.mark.parametrize("where", ["seed", "child"])
def test_no_host_secret_reaches_the_archive_a_prompt_or_the_next_child(
    where: str,
    backend: str,
    scratch: Path,
    fake_provider: FakeProvider,
    root_only_file: tuple[Path, str],
) -> None:
    root_only, root_canary = root_only_file
    key_canary = f"sk-canary-{secrets.token_hex(8)}"
    fake_provider.default = Reply(body=completion(STATEMENT))
    seed = hostile_agent(scratch / "seed", THIEF.format(root_only=str(root_only)))
    if where == "seed":
        os.symlink("/proc/self/environ", seed / "leak")
        os.symlink(root_only, seed / "rootonly")
    config = campaign_config(fake_provider, backend) | {"seed_agent": str(seed)}
    (scratch / "campaign.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, KEY_ENV: key_canary}
    run = opendgm("run", str(scratch / "campaign.yaml"), "--dir", str(scratch / "c"), env=env)
    said = run.stdout + run.stderr

    canaries = (key_canary, root_canary)
    prompts = json.dumps([request["body"] for request in fake_provider.requests])
    assert not [c for c in canaries if c in prompts], "a host secret reached a model prompt"
    assert not [c for c in canaries if c in said], "a host secret reached the campaign's output"
    if where == "seed":  # a seed that links outside itself is refused before anything runs
        assert run.returncode != 0 and "outside" in said, said[-2000:]
        return
    assert run.returncode == 0, said[-3000:]
    for name, data in stored_bytes(scratch / "c"):
        assert not [c for c in canaries if c.encode() in data], f"a host secret was stored in {name}"
    with Archive.open(scratch / "c", readonly=True) as archive:
        agents = archive.nodes(kind="agent")
    for node, shown in zip(agents, run_commands([("show", scratch / "c", n.id) for n in agents], env=env), strict=True):
        assert shown.returncode == 0, shown.stderr
        assert not [c for c in canaries if c in shown.stdout], f"`opendgm show {node.id}` printed a host secret"
    children = [node for node in agents if node.parent_id]
    assert children and all(node.status == "rejected" for node in children), [(n.id, n.status) for n in children]
    assert all("outside" in str(node.status_reason) for node in children), [n.status_reason for n in children]
