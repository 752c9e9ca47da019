"""Running one agent on one task: the agent's sandbox, its diff, then grading in a fresh sandbox.

Nothing here decides what to keep: the caller records the outcome (in the archive) and caches by the
agent's code hash. Every failure mode ends as a per-task outcome with a readable detail, never as an
exception that stops the other tasks: a verdict on the agent, or an infrastructure event (`infra`), decided by
the rule of `opendgm.outcomes` from the gateway's record of the sandbox's calls and the engine's errors.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from opendgm.agents import AGENT_ENV, REPO_DIR, TRAJECTORY_FILE, agent_command, agent_mounts
from opendgm.archive import ArchiveError, GitStore, trees
from opendgm.evaluators.base import Evaluator, grade_with
from opendgm.evaluators.capture import PATCH_LIMIT_BYTES, capture_tree, read_capped
from opendgm.evaluators.grader.hooks import drop_hooks
from opendgm.evaluators.task import NO_GRADING, Grade, Grading, Judge, Task
from opendgm.llm import Gateway, LLMError, TokenRecord
from opendgm.outcomes import (
    INFRASTRUCTURE,
    InfraEvent,
    RunStatus,
    Verdict,
    from_llm_error,
    from_sandbox_error,
    from_token_record,
)
from opendgm.sandbox import BackendName, EngineFailure, Limits, SandboxError, SandboxSpec, open_sandbox

LOG_TAIL_CHARS = 4000


@dataclass(frozen=True)
class TaskOutcome:
    """Everything one (agent, task) run produced."""

    task_id: str
    status: RunStatus  # a Verdict, or INFRASTRUCTURE (then `infra` says what failed; never stored)
    tests_passed: int = 0
    tests_failed: int = 0
    exit_code: int | None = None
    duration_s: float = 0.0
    detail: str = ""
    patch: str = ""
    trajectory: bytes = b""
    agent_log: str = ""
    grading_log: str = ""
    agent_status: str = ""  # the agent's own exit status, from its trajectory
    infra: InfraEvent | None = None  # what failed when the outcome is an infrastructure event
    model_wait_s: float = 0.0  # how long the agent's model calls waited on the gateway

    @property
    def resolved(self) -> bool:
        return self.status == "resolved"

    @property
    def infrastructure_failure(self) -> bool:
        """The engine, the model service, the budget or the host failed, not the agent: retried, not a result."""
        return self.infra is not None


def infrastructure(task_id: str, event: InfraEvent, **fields: object) -> TaskOutcome:
    """An outcome that is an infrastructure event (the fields the agent produced are kept for the log)."""
    return TaskOutcome(task_id, INFRASTRUCTURE, detail=str(event), infra=event, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AgentRun:
    """What the agent left: its diff against the starting tree, its trajectory and how it ended."""

    exit_code: int
    patch: str  # the host's diff, decoded with surrogateescape (byte-exact)
    trajectory: bytes
    log: str
    status: str  # the agent's own exit status, from its trajectory
    failure: tuple[Verdict, str] | None  # (status, detail) when it did not finish normally
    tree: str | None = None  # the repository it left, as a tree of the store given to run_agent
    record: TokenRecord | None = None  # what the gateway saw of its model calls (the host's record, not the agent's)


def grading_spec(task: Task, campaign: str) -> SandboxSpec:
    """A fresh, small sandbox for grading one task (no gateway: grading never calls a model; its workspace a
    plain tmpfs: a grading reads little, and a volume costs more to set up than the grading's own exec)."""
    return SandboxSpec(
        image=task.image,
        campaign=campaign,
        workspace_volume=False,
        limits=Limits(memory_mb=1024, pids=256, exec_timeout_s=task.grading_timeout_s),
    )


def grade_patch(
    evaluator: Evaluator,
    task: Task,
    patch: str,
    backend: BackendName,
    campaign: str,
    grading: Grading = NO_GRADING,
    pooled: bool = True,
) -> Grade:
    """Grade `patch` in a fresh sandbox (`pooled`: one Docker started ahead of need, see sandbox/pool.py);
    `grading` says whose patch it is and carries the judge of an evaluator that needs one."""
    with open_sandbox(grading_spec(task, campaign), backend, pooled=pooled) as sandbox:
        grade = grade_with(evaluator, task, patch, sandbox, grading)
    hooks = drop_hooks(patch)[1]  # dropped by `apply_patch`; the reasons go on the result
    return replace(grade, notes=(*hooks, *grade.notes)) if hooks else grade


@dataclass
class TaskRunner:
    """Runs one agent (a code directory on the host) on tasks of one evaluator."""

    evaluator: Evaluator
    agent_dir: Path
    gateway: Gateway | None
    node: str
    role: str = "agent"
    backend: BackendName = "auto"
    campaign: str = "adhoc"
    memory_mb: int = 2048
    max_steps: int | None = None
    patch_limit: int = PATCH_LIMIT_BYTES
    judge: Judge | None = None  # for an evaluator that `needs_judge`: passed into each grading call

    def run(self, task: Task) -> TaskOutcome:
        started = time.monotonic()
        if task.invalid:
            return TaskOutcome(task.id, "invalid_task", detail=task.invalid)
        try:
            outcome = self._run(task)
        except SandboxError as exc:  # the sandbox could not be set up, or the engine failed: not the agent's doing
            outcome = infrastructure(task.id, from_sandbox_error(exc) or InfraEvent("host", str(exc)))
        return _with_duration(outcome, time.monotonic() - started)

    def _agent_spec(self, task: Task, token: str | None) -> SandboxSpec:
        return SandboxSpec(
            image=task.image,
            campaign=self.campaign,
            mounts=agent_mounts(self.agent_dir),
            env=dict(AGENT_ENV),
            gateway_socket=self.gateway.socket_for(token) if self.gateway and token else None,  # its own socket
            gateway_token=token,
            limits=Limits(
                memory_mb=self.memory_mb,
                exec_timeout_s=task.agent_timeout_s,
                wall_time_s=task.agent_timeout_s + task.grading_timeout_s + 600,
            ),
        )

    def run_agent(self, task: Task, purpose: str | None = None, store: GitStore | None = None) -> AgentRun:
        """Only the agent's part: run it on the task in its sandbox and collect its diff and trajectory.

        The repository is captured twice under the host's rules, once prepared and once the agent and
        every process it started are gone, into `store` (a scratch store when None); the diff is between
        the two trees. A change over `patch_limit` is `patch_too_large`, never read whole.
        """
        purpose = purpose or f"agent {task.id}"
        # The agent gets a slightly shorter limit than the sandbox so it can stop on its own, and the gateway
        # stops retrying its calls at that limit: a hung provider is reported as such, never as the agent's timeout.
        soft_limit = max(task.agent_timeout_s * 0.9, task.agent_timeout_s - 30)
        token = self.gateway.issue_token(self.node, self.role, purpose, soft_limit) if self.gateway else None
        too_large: tuple[Verdict, str] | None = None
        try:
            with ExitStack() as stack:
                store = store or stack.enter_context(GitStore.scratch())
                sandbox = stack.enter_context(open_sandbox(self._agent_spec(task, token), self.backend))
                self.evaluator.prepare(task, sandbox)
                base = capture_tree(sandbox, REPO_DIR, store, limit=None)
                sandbox.put_files("/workspace/task", {"statement.md": task.statement})
                command = agent_command(max_steps=self.max_steps, time_limit_s=soft_limit)
                agent = sandbox.exec(command, timeout=task.agent_timeout_s)
                sandbox.kill_all()  # nothing the agent started may change the tree while it is read
                trajectory = read_capped(sandbox, TRAJECTORY_FILE)
                try:
                    after = capture_tree(sandbox, REPO_DIR, store, limit=base.size + self.patch_limit).tree
                    patch = trees.diff(store, base.tree, after, limit=self.patch_limit)
                except trees.TooLarge as exc:
                    after, patch, too_large = None, "", ("patch_too_large", str(exc))
                except EngineFailure:
                    raise
                except (SandboxError, ArchiveError) as exc:  # what the agent left cannot be read: its doing
                    after, patch, too_large = None, "", ("agent_error", f"the agent's repository is unreadable: {exc}")
        finally:
            if self.gateway and token:
                self.gateway.revoke(token)
        record = self.gateway.record(token) if self.gateway and token else None
        log = (agent.stdout + agent.stderr)[-LOG_TAIL_CHARS:]
        status, error = _exit_record(trajectory)
        failure = _agent_failure(agent.timed_out, agent.exit_code, error, log) or too_large
        return AgentRun(agent.exit_code, patch, trajectory, log, status, failure, after, record)

    def _run(self, task: Task) -> TaskOutcome:
        agent = self.run_agent(task)
        common: dict[str, Any] = {  # the agent's side of every outcome below
            "exit_code": agent.exit_code,
            "patch": agent.patch,
            "trajectory": agent.trajectory,
            "agent_log": agent.log,
            "agent_status": agent.status,
            "model_wait_s": agent.record.wait_s if agent.record else 0.0,
        }
        infra = from_token_record(agent.record)  # an event unless the task is resolved despite it (below)
        if infra is not None and not agent.patch.strip():
            return infrastructure(task.id, infra, **common)
        if not agent.patch.strip():
            status, detail = agent.failure or ("empty_patch", "the agent left the repository unchanged")
            return TaskOutcome(task.id, status, detail=detail, **common)
        try:
            grading = Grading(self.node, self.judge)
            grade = grade_patch(self.evaluator, task, agent.patch, self.backend, self.campaign, grading)
        except SandboxError as exc:
            event = from_sandbox_error(exc)  # the image removed, the grading container killed: retried
            if event is not None:
                return infrastructure(task.id, InfraEvent(event.kind, f"grading: {exc}"), **common)
            return TaskOutcome(task.id, "grading_error", detail=str(exc), **common)
        except LLMError as exc:  # a grading model (a judge) that could not answer, or answered unusably: retried
            kind = (from_llm_error(exc) or InfraEvent("model_service", "")).kind
            return infrastructure(task.id, InfraEvent(kind, f"grading model: {exc}"), **common)
        if infra is not None and not grade.resolved:  # the service failed the agent: not judged on it
            return infrastructure(task.id, infra, **common)
        notes = "; ".join(grade.notes)
        status, detail = (grade.status, notes) if grade.resolved or agent.failure is None else agent.failure
        return TaskOutcome(
            task.id,
            status,
            tests_passed=grade.tests_passed,
            tests_failed=grade.tests_failed,
            detail=detail,
            grading_log=grade.output[-LOG_TAIL_CHARS:],
            **common,
        )


def _exit_record(trajectory: bytes) -> tuple[str, str]:
    """(status, error) of the agent's final `exit` record, or empty strings when it wrote none."""
    for line in reversed(trajectory.decode(errors="replace").splitlines()):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("type") == "exit":
            return str(record.get("status", "")), str(record.get("error", ""))
    return "", ""


def _agent_failure(timed_out: bool, exit_code: int, error: str, log: str) -> tuple[Verdict, str] | None:
    """The per-task status for an agent that did not finish normally, or None when it did."""
    if timed_out:
        return "agent_timeout", "the agent was killed at its time limit"
    if exit_code != 0 and error:  # the agent's own account; whether a model service failed it, the gateway says
        return "agent_error", f"the agent stopped (exit {exit_code}): {error[:500]}"
    if exit_code != 0:
        return "agent_error", f"the agent crashed (exit {exit_code}): {log.strip()[-500:]}"
    return None


def _with_duration(outcome: TaskOutcome, duration: float) -> TaskOutcome:
    return replace(outcome, duration_s=duration)
