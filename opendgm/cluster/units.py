"""Units of work: everything a worker node needs to run one evaluation, self-modification or validation.

A unit is small and self-contained: the agent's code travels by hash (a reference to one git pack per code hash,
fetched once per node, see `code_cache`), the task by id, the evaluator by name, options and version, the models
by role settings (key *names*, never key values), the sandbox by its settings. The head fixes the attempt number
before submitting, so a unit Ray runs twice (a lost node) is still recorded once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opendgm.archive import EvaluatorKey
from opendgm.evaluators import AgentRun, Task, TaskOutcome
from opendgm.llm import BudgetLimits, CallRecord, Reservations, RetryPolicy, RoleConfig
from opendgm.sandbox import BackendName


@dataclass(frozen=True)
class CodeRef:
    """An agent's code: its tree hash, and where a node that lacks it fetches its pack (a Ray object)."""

    tree: str
    pack: Any  # ray.ObjectRef of GitStore.pack_tree(tree); fetched only by a node without the tree


@dataclass(frozen=True)
class Models:
    """The model roles as settings; each node's gateway reads the keys from its own environment."""

    roles: dict[str, RoleConfig]
    retry: RetryPolicy
    limits: BudgetLimits  # what is left of the campaign's budget when the unit was made
    budget: Reservations | None = None  # the campaign's budget actor, shared by every node (then `limits` is unused)


@dataclass(frozen=True)
class Sandboxing:
    backend: BackendName
    image: str
    memory_mb: int


@dataclass(frozen=True)
class EvaluatorRef:
    """The evaluator as the head loaded it: name and version, and its options (a node loads it the same way)."""

    key: EvaluatorKey
    options: dict[str, Any]


@dataclass(frozen=True)
class TaskUnit:
    """Run agent `code` (archive node `node`) on one task and grade it."""

    campaign: str
    node: str
    code: CodeRef
    evaluator: EvaluatorRef
    task_id: str
    attempt: int
    models: Models
    sandbox: Sandboxing


@dataclass(frozen=True)
class ModifyUnit:
    """Run `runner` on `parent`'s code with the instruction: the self-modification that makes `child`."""

    campaign: str
    child: str
    parent: CodeRef
    runner: CodeRef  # the parent itself, or the seed under DGM's no_selfimprove baseline
    task: Task  # the self-improvement instruction, filled, as the run's task (evolve's `modification_task`)
    max_steps: int | None
    role: str
    models: Models
    sandbox: Sandboxing


@dataclass(frozen=True)
class ValidateUnit:
    """The child compiles and (with `self_test`) passes its own tests."""

    campaign: str
    child: str
    code: CodeRef
    self_test: bool
    sandbox: Sandboxing


@dataclass(frozen=True)
class Report:
    """What came back from a node: the unit's product, every model call's ledger row, and where it ran."""

    where: str  # the Ray node (ip and id) that ran the unit
    seconds: float
    calls: list[CallRecord] = field(default_factory=list)
    outcome: TaskOutcome | None = None  # TaskUnit
    run: AgentRun | None = None  # ModifyUnit
    pack: bytes = b""  # ModifyUnit: the child's tree as a git pack (empty when it left none)
