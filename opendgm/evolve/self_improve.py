"""DGM's self-improvement step, done right: diagnose a failure, let the parent rewrite itself, validate.

1. pick what to learn from (`entries`: a failed task, or one of DGM's special entries);
2. the meta model reads DGM's evidence (`evidence`: the parent's design, whole code, lineage patches,
   trajectory, patch, hidden tests and failing tests) through the entry's diagnosis meta-prompt (an
   archive node, so it can evolve) and answers with DGM's five fields; the implementation suggestion and
   the problem description become the child's problem statement;
3. the parent agent (the seed under the `no_selfimprove` baseline), running from a read-only copy of
   itself in a sandbox, edits a writable copy of the parent's code with that statement; its diff is the
   child's code;
4. validation: the child compiles and (with `self_test`) its own test suite passes, in a sandbox.

Steps 3 and 4 (and keeping what the run left as the child) are the sandbox side, in
`evaluators.self_modification`, where a cluster node runs them too; this module makes what the parent is told.
"""

from __future__ import annotations

import json
import re
from string import Template

from opendgm.archive import Archive
from opendgm.evaluators import Evaluator, Rejected, Task
from opendgm.evolve import evidence
from opendgm.evolve.entries import Entry
from opendgm.llm import Router

# DGM's answer fields that become the child's instruction (the other three are the model's reasoning).
CHILD_FIELDS = ("implementation_suggestion", "problem_description")
JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_AGENT_CODE = re.compile(r"\$(agent_code\b|\{agent_code\})")


def diagnose(
    archive: Archive,
    router: Router,
    child_id: str,
    parent_id: str,
    meta_prompt: str,
    evaluator: Evaluator,
    entry: Entry,
    evidence_chars: int = 30000,
) -> str:
    """The problem statement for the child, from the meta model reading `meta_prompt` filled with DGM's
    evidence about the entry (one task, or a special entry's example tasks) within `evidence_chars`."""
    code = archive.code(parent_id)
    summary = evidence.agent_summary(code)
    lineage = evidence.lineage_patches([(n.id, archive.diff_to_parent(n.id)) for n in archive.lineage(parent_id)[1:]])
    if entry.kind == "task":
        shown = task_evidence(archive, parent_id, evaluator, str(entry.task_id))
        values = evidence.task_values(meta_prompt, summary, code, lineage, shown, evidence_chars)
    else:
        examples = [task_evidence(archive, parent_id, evaluator, task_id) for task_id in entry.evidence]
        values = evidence.examples_values(meta_prompt, summary, code, lineage, examples, evidence_chars)
    messages = diagnosis_messages(meta_prompt, values)
    answer = router.complete("meta", messages, node=child_id, purpose="diagnose").text
    return problem_statement(answer)


def task_evidence(archive: Archive, parent_id: str, evaluator: Evaluator, task_id: str) -> evidence.TaskEvidence:
    """What the parent's (latest) attempt at one task left, with the task's hidden tests (host side only)."""
    result = [r for r in archive.results(parent_id, *evaluator.key) if r.task_id == task_id][-1]
    task = {t.id: t for t in evaluator.tasks()}[task_id]

    def artifact(path: str | None) -> str:
        return archive.artifacts.read_text(path) if path else ""

    return evidence.TaskEvidence(
        task_id=task_id,
        statement=task.statement,
        outcome=f"{result.status}{': ' + result.detail if result.detail else ''}",
        trajectory=artifact(result.trajectory_path),
        patch=artifact(result.patch_path),
        grading=artifact(result.log_path),
        hidden_tests=evaluator.diagnosis_tests(task),
        counts=(result.tests_passed, result.tests_failed),
    )


def diagnosis_messages(meta_prompt: str, values: dict[str, str]) -> list[dict[str, str]]:
    """The diagnosis request: the meta-prompt up to the parent's code as the system message, the rest (the task
    and what happened) as the user's. The first part is the same for every diagnosis of one parent, so providers
    serve it from their prompt cache (Anthropic where the host marks it, OpenAI on its own)."""
    code = _AGENT_CODE.search(meta_prompt)
    if code is None or not meta_prompt[code.end() :].strip():
        return [{"role": "user", "content": Template(meta_prompt).safe_substitute(values)}]
    head, rest = meta_prompt[: code.end()], meta_prompt[code.end() :]
    return [
        {"role": "system", "content": Template(head).safe_substitute(values)},
        {"role": "user", "content": Template(rest).safe_substitute(values).lstrip("\n")},
    ]


def problem_statement(answer: str) -> str:
    """The `problem_statement` of the meta model's JSON; a plain-text answer is taken as the statement.

    Small models rarely produce clean JSON; their text is still a usable instruction. An answer with
    nothing usable in it is a rejection, never an empty instruction.
    """
    match = JSON_OBJECT.search(answer)
    if match:
        try:
            parsed = json.loads(match.group(0))
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            parts = [str(parsed.get(key) or "").strip() for key in CHILD_FIELDS]
            if any(parts):
                return "\n\n".join(part for part in parts if part)
            if str(parsed.get("problem_statement", "")).strip():
                return str(parsed["problem_statement"]).strip()
    text = answer.strip()
    if len(text) < 20:
        raise Rejected(f"diagnosis produced no usable problem statement: {text!r}", rule="diagnosis")
    return text


def modification_task(child_id: str, statement: str, instruction: str, image: str, timeout_s: float) -> Task:
    """The self-modification run as a task: the instruction filled with the statement, the parent's code as repo."""
    return Task(
        id=f"self-improve-{child_id}",
        statement=Template(instruction).safe_substitute(problem_statement=statement),
        image=image,
        agent_timeout_s=timeout_s,
    )
