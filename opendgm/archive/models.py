"""The archive's records: plain frozen dataclasses, so selectors and evaluators can hold them safely."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, get_args

from opendgm.outcomes import VERDICTS, Verdict

NodeKind = Literal["agent", "prompt", "meta_prompt", "rubric"]
Status = Literal["proposed", "modifying", "built", "validating", "evaluating", "evaluated", "rejected", "failed"]
ResultStatus = Verdict  # the stored verdicts: opendgm.outcomes is the one vocabulary

NODE_KINDS: frozenset[str] = frozenset(get_args(NodeKind))
STATUSES: frozenset[str] = frozenset(get_args(Status))
RESULT_STATUSES: frozenset[str] = VERDICTS

# The life cycle. Setting the current status again is a no-op (so a resumed campaign can repeat a step);
# `evaluated -> evaluating` is a later stage; `rejected` and `failed` are final: a retry is a new node.
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"modifying", "built", "rejected", "failed"}),
    "modifying": frozenset({"built", "rejected", "failed"}),
    "built": frozenset({"validating", "evaluating", "rejected", "failed"}),
    "validating": frozenset({"evaluating", "rejected", "failed"}),
    "evaluating": frozenset({"evaluated", "rejected", "failed"}),
    "evaluated": frozenset({"evaluating", "rejected"}),
    "rejected": frozenset(),
    "failed": frozenset(),
}
# Statuses that only make sense once a node has content (a commit, or text).
NEEDS_CONTENT: frozenset[str] = frozenset({"built", "validating", "evaluating", "evaluated"})


@dataclass(frozen=True, slots=True)
class Node:
    """One archive member. Agents are git commits (`commit`, `code_hash` = tree hash); prompts,
    meta-prompts and rubrics keep their text in `content` (`code_hash` = git blob hash of it)."""

    id: str
    seq: int
    kind: NodeKind
    parent_id: str | None
    status: Status
    status_reason: str | None
    operator: str | None
    meta: dict[str, Any]
    commit: str | None
    code_hash: str | None
    content: str | None
    message: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Edge:
    """A typed relation other than parenthood, read as "src <kind> dst" (child produced_by meta_prompt)."""

    src: str
    dst: str
    kind: str
    created_at: float


class EvaluatorKey(NamedTuple):
    """What results and scores are stored and compared under: an evaluator's name and version (scores compare only
    under the same version)."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """One graded attempt to store (`Archive.record_result`): the node whose code was graded, under which evaluator,
    the task and attempt, the verdict and what grading counted, its artifacts and its model spend."""

    node_id: str
    evaluator: EvaluatorKey
    task_id: str
    status: ResultStatus
    attempt: int = 0
    tests_passed: int | None = None
    tests_failed: int | None = None
    exit_code: int | None = None
    duration_s: float | None = None
    log_path: str | None = None
    trajectory_path: str | None = None
    patch_path: str | None = None
    cost_usd: float = 0.0
    tokens: int = 0
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class TaskResult:
    """One graded attempt at one task. Keyed by code, not by node: identical code shares it."""

    id: int
    code_hash: str
    evaluator: str
    evaluator_version: str
    task_id: str
    attempt: int
    node_id: str
    resolved: bool
    status: ResultStatus
    tests_passed: int | None
    tests_failed: int | None
    exit_code: int | None
    duration_s: float | None
    log_path: str | None
    trajectory_path: str | None
    patch_path: str | None
    cost_usd: float
    tokens: int
    detail: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Score:
    """A stage's score, derived from the per-task results each time it is read (never stored).

    With `attempts > 1` every (task, attempt) pair is one unit of `n_tasks`."""

    evaluator: str
    evaluator_version: str
    stage: str
    n_tasks: int
    n_done: int
    n_resolved: int

    @property
    def score(self) -> float:
        return self.n_resolved / self.n_tasks if self.n_tasks else 0.0

    @property
    def complete(self) -> bool:
        return self.n_done >= self.n_tasks


class NodeSummary(NamedTuple):
    """What selectors and views need about a node, computed for all nodes in one query (a named tuple:
    cheap to build 10^4 of).

    The stage fields describe the node's latest declared stage (None when it has none); `passes` and
    `fails` count all its per-task results (resolved / not), which HGM pools over clades."""

    id: str
    parent_id: str | None
    kind: NodeKind
    status: Status
    status_reason: str | None
    operator: str | None
    code_hash: str | None
    n_children: int
    stage: str | None
    n_tasks: int
    n_done: int
    n_resolved: int
    passes: int
    fails: int

    @property
    def score(self) -> float | None:
        if self.stage is None:
            return None
        return self.n_resolved / self.n_tasks if self.n_tasks else 0.0


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    ts: float
    kind: str
    node_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AgentImport:
    """A commit already in `agents.git` to register as an agent node (bulk imports, benchmarks).

    `parent` is an existing node id, or the index of an earlier entry of the same batch, or None."""

    commit: str
    parent: str | int | None = None
    operator: str | None = None
    message: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    status: Status = "built"


@dataclass(frozen=True, slots=True)
class ResultImport:
    """One graded attempt to record in bulk (`Archive.import_results`: imports, benchmarks); the fields
    `record_result` leaves unset by default stay unset."""

    node_id: str
    evaluator: str
    evaluator_version: str
    task_id: str
    status: ResultStatus
    attempt: int = 0
