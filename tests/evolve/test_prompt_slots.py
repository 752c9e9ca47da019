"""PE2 on an agent's prompt file: hard negatives only from the parent's failures, placeholders kept."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from opendgm.agents.contract import seed_agent_dir
from opendgm.archive import Archive, ResultRecord
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evaluators.self_modification import Rejected
from opendgm.evolve import prompt_slots
from opendgm.prompts import pe2

EVALUATOR = HumanEval()
SETTINGS = pe2.Settings(batch_size=2, max_words=400)


class Proposer:
    """A scripted PE2 proposer: records what it was shown and answers with `rewrite(current prompt)`."""

    def __init__(self, rewrite) -> None:
        self.rewrite, self.seen = rewrite, []

    def __call__(self, messages: list[dict[str, str]], temperature: float) -> str:
        self.seen.append(messages[-1]["content"])
        if len(messages) == 1:
            return "The prompt does not ask for tests."
        current = messages[-1]["content"].split('## Current prompt\n"""\n', 1)[1].split('\n"""', 1)[0]
        return f"<prompt>{self.rewrite(current)}</prompt>"


@pytest.fixture
def parent(tmp_path: Path) -> tuple[Archive, str]:
    archive = Archive.create(tmp_path / "c", "slots")
    node = archive.add_agent(seed_agent_dir(), operator="seed").id
    archive.set_status(node, "evaluating")
    outcomes = {"HumanEval_0": "resolved", "HumanEval_1": "unresolved", "HumanEval_2": "empty_patch"}
    for task, status in outcomes.items():
        log = archive.artifacts.put(f"{node}/{task}.log", f"grading of {task}: AssertionError")
        archive.record_result(ResultRecord(node, EVALUATOR.key, task, status=status, log_path=log))
    yield archive, node
    archive.close()


def rewrite(archive: Archive, node: str, proposer: Proposer, slots=("prompts/system.md",)):
    return prompt_slots.rewrite_slot(
        archive, proposer, node, pe2.default_meta_prompt(), EVALUATOR, list(slots), SETTINGS, random.Random(0)
    )


def test_the_child_is_the_parent_with_one_prompt_file_rewritten(parent, tmp_path: Path) -> None:
    archive, node = parent
    proposer = Proposer(lambda current: current + "\nRun the tests before you submit.")
    result = rewrite(archive, node, proposer)
    assert result.slot == "prompts/system.md" and sorted(result.batch) == ["HumanEval_1", "HumanEval_2"]
    node_id = archive.propose("agent", node, operator="pe2").id
    child = archive.code(archive.attach_tree(node_id, result.tree).id)  # the rewrite is a tree in agents.git
    text = child.read("prompts/system.md").decode()
    assert text.endswith("Run the tests before you submit.\n") and "$submit" in text
    assert child.read("agent.py") == (seed_agent_dir() / "agent.py").read_bytes()
    analysis = proposer.seen[0]
    assert "grading of HumanEval_1" in analysis and "grading of HumanEval_2" in analysis
    assert "HumanEval_0" not in analysis, "a solved task is never a hard negative"
    assert "`prompts/system.md` of a coding agent" in analysis and "$repo" in analysis  # the context specification
    assert result.reasoning == "The prompt does not ask for tests."


def test_unusable_rewrites_and_flawless_parents_are_rejected(parent, tmp_path: Path) -> None:
    archive, node = parent
    with pytest.raises(Rejected, match=r"dropped placeholders: \$repo"):
        rewrite(archive, node, Proposer(lambda current: current.replace("$repo", "the repository")))
    with pytest.raises(Rejected, match="no change"):
        rewrite(archive, node, Proposer(lambda current: current))
    with pytest.raises(Rejected, match="none of the prompt slots"):
        rewrite(archive, node, Proposer(str.upper), slots=("prompts/absent.md",))
    code = shutil.copytree(seed_agent_dir(), tmp_path / "flawless")
    (code / "agent.py").write_text((code / "agent.py").read_text() + "# other code, so results are not shared\n")
    flawless = archive.add_agent(code, operator="seed").id
    archive.record_result(ResultRecord(flawless, EVALUATOR.key, "HumanEval_0", status="resolved"))
    with pytest.raises(Rejected, match="failed no task"):
        rewrite(archive, flawless, Proposer(str.upper))
