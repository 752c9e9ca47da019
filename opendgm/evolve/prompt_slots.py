"""PE2 inside agent campaigns: rewrite one prompt file (a "slot") of the parent from tasks it failed.

The child agent is the parent's code with that one file replaced, so it is an ordinary archive node:
validated and evaluated like any other child. The hard negatives are the parent's own failed results
(task statement, what the agent did, how grading went); the label is "the hidden tests pass", never a
reference solution, so the prompt learns the task family rather than one answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from string import Template

from opendgm.archive import Archive, TaskResult, trees
from opendgm.evaluators import Evaluator, Rejected
from opendgm.prompts import Attempt, Complete, Example, missing_placeholders, pe2

LABEL = "resolved: the change makes the task's hidden tests pass"
EVIDENCE_CHARS = 1500  # per example and field: a small local model's context holds a batch of two


@dataclass(frozen=True)
class SlotRewrite:
    """The child's code (a tree in agents.git) and what the PE2 step saw and said, for the child's meta."""

    tree: str
    slot: str
    batch: list[str]
    reasoning: str


def slot_context(slot: str, text: str) -> str:
    """PE2's context specification for an agent's prompt file: where the text goes and what it must keep."""
    names = ", ".join(f"${name}" for name in Template(text).get_identifiers()) or "none"
    return (
        f"The prompt is the file `{slot}` of a coding agent. The agent fills in its placeholders ({names}), "
        "sends it to its model and then works on the task in a terminal, step by step:\n"
        f"<prompt>\n...\nTask: <input>\n"
        "Keep every placeholder exactly as written; they are replaced at run time."
    )


def evidence(archive: Archive, result: TaskResult) -> str:
    """What the agent did on a failed task: outcome, patch and the end of the grading output."""
    text = archive.artifacts.read_text
    patch = text(result.patch_path) if result.patch_path else ""
    grading = text(result.log_path) if result.log_path else ""
    outcome = f"{result.status}{': ' + result.detail if result.detail else ''}"
    return _tail(f"outcome: {outcome}\npatch:\n{patch or '(empty)'}\ngrading:\n{grading or '(none)'}")


def failed_attempts(archive: Archive, parent: str, evaluator: Evaluator) -> list[Attempt]:
    """The parent's graded tasks as PE2 attempts; only its failures can become hard negatives."""
    statements = {task.id: task.statement[:EVIDENCE_CHARS] for task in evaluator.tasks()}
    return [
        Attempt(Example(r.task_id, statements.get(r.task_id, r.task_id), LABEL), evidence(archive, r), False)
        for r in archive.results(parent, *evaluator.key)
        if not r.resolved
    ]


def rewrite_slot(
    archive: Archive,
    complete: Complete,
    parent: str,
    meta_prompt: str,
    evaluator: Evaluator,
    slots: list[str],
    settings: pe2.Settings,
    rng: random.Random,
) -> SlotRewrite:
    """One PE2 proposal on one of the parent's prompt files; raises Rejected when there is nothing to
    learn from or the rewrite is unusable.

    The slot is read from the parent's git objects and the child is the parent's tree with that one blob
    replaced: nothing is checked out, and a slot that is a link is refused, never followed or written.
    """
    batch = pe2.hard_negatives(failed_attempts(archive, parent, evaluator), settings.batch_size, rng)
    if not batch:
        raise Rejected("the parent failed no task, so PE2 has no hard negatives to learn from")
    code = archive.code(parent)
    entries = {entry.path: entry for entry in code.entries()}
    present = [slot for slot in slots if slot in entries]
    if not present:
        raise Rejected(f"the parent has none of the prompt slots {slots}")
    slot = rng.choice(present)
    if not entries[slot].is_file:
        raise Rejected(f"the prompt slot {slot} is a link or not a regular file; PE2 never follows it")
    try:
        current = code.read(slot).decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(f"the prompt slot {slot} is not UTF-8 text") from None
    proposal = pe2.propose(
        complete, meta_prompt, current, batch, "before", settings, context=slot_context(slot, current)
    )
    if not proposal.text or proposal.text.strip() == current.strip():
        raise Rejected(f"PE2 proposed no change to {slot}")
    lost = missing_placeholders(current, proposal.text)
    if lost:
        raise Rejected(f"the rewrite of {slot} dropped placeholders: " + ", ".join(f"${n}" for n in lost))
    text = (proposal.text.rstrip() + "\n").encode("utf-8")
    tree = trees.replace_file(code.store, code.treeish, slot, text, entries[slot].mode)
    return SlotRewrite(tree, slot, [a.example.id for a in batch], proposal.reasoning)


def _tail(text: str) -> str:
    return text if len(text) <= EVIDENCE_CHARS else "[...]\n" + text[-EVIDENCE_CHARS:]
