"""Hole 2: PE2 never reads or writes a prompt slot through a link, inside the tree or out of it."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from opendgm.agents.contract import seed_agent_dir
from opendgm.archive import Archive, ResultRecord
from opendgm.archive.models import AgentImport
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.self_modification import Rejected
from opendgm.evolve import prompt_slots
from opendgm.prompts import pe2

EVALUATOR = HumanEval()
SLOT = "prompts/system.md"


def commit_raw(archive_root: Path, code: Path) -> str:
    """Commit `code` into agents.git with plain git, as an archive written before links were checked."""
    git = ["git", "--git-dir", str(archive_root / "agents.git")]
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        subprocess.run([*git, "--work-tree", str(code), "add", "-A", "."], env=env, check=True)
        tree = subprocess.run([*git, "write-tree"], env=env, check=True, capture_output=True, text=True).stdout
        commit = subprocess.run(
            [*git, "-c", "user.name=t", "-c", "user.email=t@t", "commit-tree", tree.strip(), "-m", "old"],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
    return commit.stdout.strip()


@pytest.mark.parametrize("target", ["host-file", "in-tree"])
def test_a_linked_prompt_slot_is_rejected_never_read_or_written(target: str, tmp_path: Path) -> None:
    host_file = tmp_path / "host.md"
    host_file.write_text("HOST-FILE-CANARY: do not send me anywhere ($task $repo $submit)\n")
    code = shutil.copytree(seed_agent_dir(), tmp_path / "code", ignore=shutil.ignore_patterns("__pycache__"))
    (code / SLOT).unlink()
    if target == "host-file":
        os.symlink(host_file, code / SLOT)
    else:
        shutil.copy(host_file, code / "prompts" / "other.md")
        os.symlink("other.md", code / SLOT)
    seen: list[str] = []

    def proposer(messages: list[dict[str, str]], temperature: float) -> str:
        seen.append(messages[-1]["content"])
        return "The prompt is unclear." if len(messages) == 1 else "<prompt>OVERWRITTEN $task $repo $submit</prompt>"

    with Archive.create(tmp_path / "c", "slot-links") as archive:
        (node,) = archive.import_agents([AgentImport(commit=commit_raw(tmp_path / "c", code), operator="seed")])
        archive.record_result(ResultRecord(node.id, EVALUATOR.key, "HumanEval_1", status="unresolved"))
        with pytest.raises(Rejected, match="link"):
            prompt_slots.rewrite_slot(
                archive, proposer, node.id, pe2.default_meta_prompt(), EVALUATOR, [SLOT],
                pe2.Settings(batch_size=1, max_words=400), random.Random(0),
            )  # fmt: skip
    assert "HOST-FILE-CANARY" in host_file.read_text() and "OVERWRITTEN" not in host_file.read_text()
    assert not any("HOST-FILE-CANARY" in text for text in seen), "the linked file's content reached the model"
