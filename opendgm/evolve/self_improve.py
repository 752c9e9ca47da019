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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from opendgm.agents.contract import AGENT_ENV, REPO_DIR, agent_mounts, self_test_command
from opendgm.archive import Archive, trees
from opendgm.archive.gitstore import GitStore
from opendgm.archive.trees import CodeTree
from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.runner import AgentRun, TaskRunner
from opendgm.evaluators.task import Task
from opendgm.evolve import evidence
from opendgm.evolve.entries import Entry
from opendgm.llm.gateway import Gateway
from opendgm.llm.router import Router
from opendgm.outcomes import InfrastructureFailure, agent_run_event
from opendgm.sandbox.base import Sandbox, tar_of_files
from opendgm.sandbox.factory import BackendName, open_sandbox
from opendgm.sandbox.spec import Limits, SandboxSpec

# Compiles every Python file in memory: the agent's folder is read-only, so nothing may be written.
SYNTAX_CHECK = (
    "import pathlib\nfor p in pathlib.Path('/agent').rglob('*.py'):\n    compile(p.read_text(), str(p), 'exec')"
)
# DGM's answer fields that become the child's instruction (the other three are the model's reasoning).
CHILD_FIELDS = ("implementation_suggestion", "problem_description")
JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_AGENT_CODE = re.compile(r"\$(agent_code\b|\{agent_code\})")


class Rejected(Exception):
    """The child cannot be kept as a working agent; the message is the recorded reason and `rule` names the
    check that rejected it (recorded as the child's `rejected_by`)."""

    def __init__(self, reason: str, rule: str = "operator") -> None:
        super().__init__(reason)
        self.rule = rule

    def __reduce__(self) -> tuple[type[Rejected], tuple[str, str]]:
        return (Rejected, (str(self), self.rule))  # the rule survives pickling (a cluster node's verdict)


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


class _OwnCode(Evaluator):
    """The parent's own code as the repository of a self-modification run (never graded): written into
    the sandbox from git objects, with its modes and its links as links."""

    name = "self-modification"
    version = "1"

    def __init__(self, code: CodeTree) -> None:
        self.code = code

    def tasks(self) -> list[Task]:
        return []

    def prepare(self, task: Task, sandbox: Sandbox) -> str:
        sandbox.put_archive(REPO_DIR, tar_of_files(self.code.files(), self.code.executables(), self.code.links()))
        return super().prepare(task, sandbox)


@dataclass(frozen=True)
class Modification:
    """One self-modification: the parent whose code changes, the child it makes, what the parent is told (the
    self-improvement instruction filled with the statement, as a task) and its step cap and model role.
    `runner_id` names another agent to do the work on the parent's code (DGM's `no_selfimprove`: the seed)."""

    parent_id: str
    child_id: str
    task: Task
    max_steps: int | None = None
    role: str = "agent"
    runner_id: str | None = None


def modify(archive: Archive, change: Modification, gateway: Gateway, backend: BackendName, workdir: Path,
           memory_mb: int = 2048) -> str:  # fmt: skip
    """Run the parent on its own code with the change's task; returns the child's tree, in agents.git.

    The child is the repository the parent left, captured under the host's rules: no diff is applied and
    nothing is checked out on the host. `workdir` must be traversable by the local backend's unprivileged
    user (the parent's code is mounted from there, read-only, and never read by the host).
    """
    parent_dir = archive.materialize(change.runner_id or change.parent_id, workdir / "parent")
    runner = TaskRunner(
        _OwnCode(archive.code(change.parent_id)), parent_dir, gateway, node=change.child_id, backend=backend,
        campaign=archive.campaign, max_steps=change.max_steps, memory_mb=memory_mb, role=change.role,
    )  # fmt: skip
    with GitStore.scratch() as store:
        run = runner.run_agent(change.task, purpose="self_improve", store=store)
        return accept_modification(archive, store, change.child_id, run)


def modification_task(child_id: str, statement: str, instruction: str, image: str, timeout_s: float) -> Task:
    """The self-modification run as a task: the instruction filled with the statement, the parent's code as repo."""
    return Task(
        id=f"self-improve-{child_id}",
        statement=Template(instruction).safe_substitute(problem_statement=statement),
        image=image,
        agent_timeout_s=timeout_s,
    )


def own_code(code: CodeTree) -> Evaluator:
    """The evaluator whose `prepare` writes `code` as the repository of a self-modification run."""
    return _OwnCode(code)


def accept_modification(archive: Archive, store: GitStore, child_id: str, run: AgentRun) -> str:
    """Keep what a self-modification run left (its trajectory and patch as artifacts; its tree, captured in
    `store`, copied into agents.git), or raise: Rejected for the child's fault, InfrastructureFailure else."""
    archive.artifacts.put(f"nodes/{child_id}/self_improve.jsonl", run.trajectory)
    infra = agent_run_event(run.record, succeeded=run.failure is None and bool(run.patch.strip()))
    if infra is not None:  # the model service failed the parent: retried, the child is not judged on it
        raise InfrastructureFailure(infra)
    if run.failure and run.failure[0] in ("agent_error", "patch_too_large"):
        raise Rejected(f"self-modification failed: {run.failure[1]}", rule="modification")
    if not run.patch.strip() or run.tree is None:
        raise Rejected("self-modification left the code unchanged", rule="modification")
    archive.artifacts.put(f"nodes/{child_id}/self_improve.patch", run.patch)
    outward = trees.outward_links(trees.link_targets(store, trees.list_tree(store, run.tree)))
    if outward:
        raise Rejected(f"the child's code has links pointing outside itself: {', '.join(outward[:5])}", rule="links")
    return archive.adopt_tree(store, run.tree)


def validate(
    child_dir: Path, backend: BackendName, image: str, campaign: str, self_test: bool, memory_mb: int = 2048
) -> None:
    """The child compiles and (optionally) passes its own tests, in a sandbox; raises Rejected otherwise."""
    limits = Limits(memory_mb=memory_mb)
    spec = SandboxSpec(
        image=image, campaign=campaign, mounts=agent_mounts(child_dir), env=dict(AGENT_ENV), limits=limits
    )
    with open_sandbox(spec, backend) as sandbox:
        compiled = sandbox.exec(["python3", "-c", SYNTAX_CHECK], timeout=120)
        if not compiled.ok:
            raise Rejected(
                f"the child does not compile: {evidence.clip(compiled.stdout + compiled.stderr, 1500)}", rule="compile"
            )
        if self_test:
            tested = sandbox.exec(self_test_command(), timeout=600)
            if not tested.ok:
                raise Rejected(
                    f"the child's own tests fail: {evidence.clip(tested.stdout + tested.stderr, 1500)}",
                    rule="self_test",
                )
