"""The sandbox side of self-modification: the parent run on its own code, what the run left kept as the child,
and the child's validation. The campaign runs these on this machine and a cluster node runs them as units; the
instruction the parent is given (its diagnosis and meta-prompts) is made above, in `evolve.self_improve`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from opendgm.agents import AGENT_ENV, REPO_DIR, agent_mounts, self_test_command
from opendgm.archive import Archive, CodeTree, GitStore, trees
from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.runner import AgentRun, TaskRunner
from opendgm.evaluators.task import Task
from opendgm.evaluators.text import clip
from opendgm.llm import Gateway
from opendgm.outcomes import InfrastructureFailure, agent_run_event
from opendgm.sandbox import BackendName, Limits, Sandbox, SandboxSpec, open_sandbox, tar_of_files

# Compiles every Python file in memory: the agent's folder is read-only, so nothing may be written.
SYNTAX_CHECK = (
    "import pathlib\nfor p in pathlib.Path('/agent').rglob('*.py'):\n    compile(p.read_text(), str(p), 'exec')"
)


class Rejected(Exception):
    """The child cannot be kept as a working agent; the message is the recorded reason and `rule` names the
    check that rejected it (recorded as the child's `rejected_by`)."""

    def __init__(self, reason: str, rule: str = "operator") -> None:
        super().__init__(reason)
        self.rule = rule

    def __reduce__(self) -> tuple[type[Rejected], tuple[str, str]]:
        return (Rejected, (str(self), self.rule))  # the rule survives pickling (a cluster node's verdict)


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
                f"the child does not compile: {clip(compiled.stdout + compiled.stderr, 1500)}", rule="compile"
            )
        if self_test:
            tested = sandbox.exec(self_test_command(), timeout=600)
            if not tested.ok:
                raise Rejected(
                    f"the child's own tests fail: {clip(tested.stdout + tested.stderr, 1500)}",
                    rule="self_test",
                )
