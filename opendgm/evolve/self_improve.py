"""DGM's self-improvement step, done right: diagnose a failure, let the parent rewrite itself, validate.

1. pick a task the parent failed (DGM's entry choice, including its special case for empty patches);
2. the meta model reads the parent's code, trajectory and grading output through the diagnosis
   meta-prompt (an archive node, so it can evolve) and writes a problem statement;
3. the parent agent, running from a read-only copy of itself in a sandbox, edits a writable copy of its
   own code with that statement; its diff is the child's code;
4. validation: the child compiles and its own test suite passes, in a sandbox.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from opendgm.agents.contract import AGENT_ENV, REPO_DIR, agent_mounts, self_test_command
from opendgm.archive import Archive, trees
from opendgm.archive.gitstore import GitStore
from opendgm.archive.models import TaskResult
from opendgm.archive.trees import CodeTree
from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.runner import TaskRunner
from opendgm.evaluators.task import Task
from opendgm.llm.gateway import Gateway
from opendgm.llm.router import Router
from opendgm.outcomes import InfrastructureFailure, agent_run_event
from opendgm.sandbox.base import Sandbox, tar_of_files
from opendgm.sandbox.factory import BackendName, open_sandbox
from opendgm.sandbox.spec import Limits, SandboxSpec

EMPTY_PATCH_SHARE = 0.1  # DGM: at least 10% empty patches ...
EMPTY_PATCH_CHANCE = 0.25  # ... and then, one time in four, work on empty patches
# Compiles every Python file in memory: the agent's folder is read-only, so nothing may be written.
SYNTAX_CHECK = (
    "import pathlib\nfor p in pathlib.Path('/agent').rglob('*.py'):\n    compile(p.read_text(), str(p), 'exec')"
)
JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_AGENT_CODE = re.compile(r"\$(agent_code\b|\{agent_code\})")
EMPTY_PATCHES_STATEMENT = (
    "The agent often finishes without changing the repository at all (an empty patch). Make the agent "
    "more reliable at producing an actual change that addresses the task before it stops."
)


class Rejected(Exception):
    """The child cannot be kept as a working agent; the message is the recorded reason."""


@dataclass(frozen=True)
class Entry:
    """What the diagnosis is about: one failed task, or the parent's habit of empty patches."""

    kind: str  # "task" | "empty_patches"
    task_id: str | None = None


def prompt_text(name: str) -> str:
    return (resources.files("opendgm.evolve") / "prompts" / name).read_text(encoding="utf-8")


def choose_entry(results: list[TaskResult], rng: random.Random) -> Entry | None:
    """DGM's choice of what to learn from; None when the parent failed nothing."""
    failed = [result for result in results if not result.resolved]
    if not failed:
        return None
    empty = [result for result in results if result.status == "empty_patch"]
    if len(empty) >= EMPTY_PATCH_SHARE * len(results) and rng.random() < EMPTY_PATCH_CHANCE:
        return Entry("empty_patches")
    return Entry("task", rng.choice(sorted(failed, key=lambda r: r.task_id)).task_id)


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
    """The problem statement for the child: from the meta model, or DGM's fixed one for empty patches.

    Half of `evidence_chars` goes to the parent's code, the rest to its trajectory, patch and grading log.
    """
    if entry.kind == "empty_patches":
        return EMPTY_PATCHES_STATEMENT
    result = next(
        r for r in archive.results(parent_id, evaluator.name, evaluator.version) if r.task_id == entry.task_id
    )
    task = {t.id: t for t in evaluator.tasks()}[str(entry.task_id)]
    artifact = archive.artifacts.read_text

    def evidence(path: str | None) -> str:
        return _clip(artifact(path), evidence_chars // 6) if path else "(none)"

    values = {
        "agent_code": _clip(code_listing(archive.code(parent_id)), evidence_chars // 2),
        "task_statement": task.statement,
        "outcome": f"{result.status}{': ' + result.detail if result.detail else ''}",
        "trajectory": evidence(result.trajectory_path),
        "patch": evidence(result.patch_path),
        "grading": evidence(result.log_path),
    }
    messages = diagnosis_messages(meta_prompt, values)
    answer = router.complete("meta", messages, node=child_id, purpose="diagnose").text
    return problem_statement(answer)


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
        if isinstance(parsed, dict) and str(parsed.get("problem_statement", "")).strip():
            return str(parsed["problem_statement"]).strip()
    text = answer.strip()
    if len(text) < 20:
        raise Rejected(f"diagnosis produced no usable problem statement: {text!r}")
    return text


def code_listing(code: CodeTree) -> str:
    """Every text file of an agent, each under its path, read from git objects; links are listed with
    their target, never followed."""
    files, links = code.files(), code.links()
    parts = []
    for entry in code.entries():
        if entry.path in links:
            parts.append(f"## {entry.path} (a link to {links[entry.path]})")
            continue
        try:
            parts.append(f"## {entry.path}\n{files[entry.path].decode('utf-8')}")
        except (KeyError, UnicodeDecodeError):
            parts.append(f"## {entry.path} (binary)")
    return "\n\n".join(parts)


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


def modify(
    archive: Archive,
    parent_id: str,
    child_id: str,
    statement: str,
    instruction: str,
    gateway: Gateway,
    backend: BackendName,
    timeout_s: float,
    max_steps: int,
    image: str,
    workdir: Path,
) -> str:
    """Run the parent on its own code with `instruction` (a self-improvement meta-prompt with a
    `$problem_statement` slot) filled with the statement; returns the child's tree, in agents.git.

    The child is the repository the parent left, captured under the host's rules: no diff is applied and
    nothing is checked out on the host. `workdir` must be traversable by the local backend's unprivileged
    user (the parent's code is mounted from there, read-only, and never read by the host).
    """
    parent_dir = archive.materialize(parent_id, workdir / "parent")
    task = Task(
        id=f"self-improve-{child_id}",
        statement=Template(instruction).safe_substitute(problem_statement=statement),
        image=image,
        agent_timeout_s=timeout_s,
    )
    runner = TaskRunner(
        _OwnCode(archive.code(parent_id)), parent_dir, gateway, node=child_id, backend=backend,
        campaign=archive.campaign, max_steps=max_steps,
    )  # fmt: skip
    with GitStore.scratch() as store:
        run = runner.run_agent(task, purpose="self_improve", store=store)
        archive.artifacts.put(f"nodes/{child_id}/self_improve.jsonl", run.trajectory)
        infra = agent_run_event(run.record, succeeded=run.failure is None and bool(run.patch.strip()))
        if infra is not None:  # the model service failed the parent: retried, the child is not judged on it
            raise InfrastructureFailure(infra)
        if run.failure and run.failure[0] in ("agent_error", "patch_too_large"):
            raise Rejected(f"self-modification failed: {run.failure[1]}")
        if not run.patch.strip() or run.tree is None:
            raise Rejected("self-modification left the code unchanged")
        archive.artifacts.put(f"nodes/{child_id}/self_improve.patch", run.patch)
        outward = trees.outward_links(trees.link_targets(store, trees.list_tree(store, run.tree)))
        if outward:
            raise Rejected(f"the child's code has links pointing outside itself: {', '.join(outward[:5])}")
        return archive.adopt_tree(store, run.tree)


def validate(child_dir: Path, backend: BackendName, image: str, campaign: str, self_test: bool) -> None:
    """The child compiles and (optionally) passes its own tests, in a sandbox; raises Rejected otherwise."""
    spec = SandboxSpec(
        image=image, campaign=campaign, mounts=agent_mounts(child_dir), env=dict(AGENT_ENV), limits=Limits()
    )
    with open_sandbox(spec, backend) as sandbox:
        compiled = sandbox.exec(["python3", "-c", SYNTAX_CHECK], timeout=120)
        if not compiled.ok:
            raise Rejected(f"the child does not compile: {_clip(compiled.stdout + compiled.stderr, 1500)}")
        if self_test:
            tested = sandbox.exec(self_test_command(), timeout=600)
            if not tested.ok:
                raise Rejected(f"the child's own tests fail: {_clip(tested.stdout + tested.stderr, 1500)}")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters clipped ...]\n{text[-half:]}"
