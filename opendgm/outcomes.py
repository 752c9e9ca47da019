"""The one outcome vocabulary, and the one rule that tells a verdict on an agent from an infrastructure event.

Invariant 9 (infrastructure is never a verdict, docs/invariants.md).

A **verdict** is what the agent's code did (it solved the task, left it unsolved, crashed, ran out of its own
time, ...): stored as a result, cached by code hash, scored. An **infrastructure event** is what the model
service, the budget, the Docker engine, an image or the host did: logged as an event and never stored as a
result, so the work is retried on resume; no child is failed or rejected for it and no meta-prompt is credited
or blamed. After `MAX_INFRA_FAILURES` events on one (node, task), that task is `infra_exhausted`: neither a
verdict nor retried again until `opendgm run --retry-infra`, so an agent that provokes failures cannot wedge a
campaign.

The rule is decided on the host from typed errors (`LLMError.infrastructure`, `EngineFailure`) and from records
the agent cannot write: the gateway's `TokenRecord` of its sandbox's calls and the engine's view of its
container. Never from the agent's exit code or from text the agent wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from opendgm.llm import BudgetExceeded, LLMError, TokenRecord
from opendgm.sandbox import EngineFailure, SandboxError

Verdict = Literal[
    "resolved",
    "unresolved",
    "empty_patch",
    "patch_failed",  # the agent's diff did not apply in the grading sandbox
    "agent_error",
    "agent_timeout",
    "grading_error",  # the grader could not grade this change (a task problem, never the engine's)
    "grading_timeout",
    "invalid_task",
    "patch_too_large",  # the agent's change is over the size cap: a verdict on the agent, never read whole
]
VERDICTS: frozenset[str] = frozenset(get_args(Verdict))

InfraKind = Literal["model_service", "model_hung", "budget", "engine", "host"]
INFRA_KINDS: frozenset[str] = frozenset(get_args(InfraKind))
INFRA_EXHAUSTED = "infra_exhausted"  # a task status shown beside verdicts, never one of them
MAX_INFRA_FAILURES = 3
INFRA_EVENT = "task_infrastructure_failure"  # the archive event kind of one infrastructure failure of a task
INFRASTRUCTURE: Final = "infrastructure"  # the status of a task run that was an infrastructure event (never stored)
RunStatus = Verdict | Literal["infrastructure"]  # how one task run ended: a verdict, or an event


@dataclass(frozen=True)
class InfraEvent:
    """One infrastructure failure: what failed (`kind`) and a readable line about it."""

    kind: InfraKind
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class InfrastructureFailure(Exception):
    """Raised by an operator whose work failed for an infrastructure reason: retried later, never judged."""

    def __init__(self, event: InfraEvent) -> None:
        super().__init__(str(event))
        self.event = event


def from_llm_error(error: LLMError) -> InfraEvent | None:
    """The event a failed model call is, or None when the request itself was at fault (a verdict on its maker)."""
    if not error.infrastructure:
        return None
    if isinstance(error, BudgetExceeded):
        return InfraEvent("budget", str(error))
    if error.hung:
        return InfraEvent("model_hung", str(error))
    return InfraEvent("model_service", str(error))


def from_sandbox_error(error: SandboxError) -> InfraEvent | None:
    """An engine, image or host failure is an event; any other sandbox error is the sandboxed code's doing."""
    return InfraEvent("engine", str(error)) if isinstance(error, EngineFailure) else None


def from_token_record(record: TokenRecord | None) -> InfraEvent | None:
    """What the gateway saw of one sandbox's model calls: a spent budget, a hung or failing service, or nothing."""
    if record is None:
        return None
    waited = f"(the agent waited {record.wait_s:.1f} s on the gateway)"
    if record.budget_refused:
        return InfraEvent("budget", f"the budget refused a model call {waited}")
    if record.in_flight_at_revoke:
        return InfraEvent("model_hung", f"a model call was still waiting on the provider at the end {waited}")
    if record.infra_failures:
        failures = f"{len(record.infra_failures)} model call(s) failed; last: {record.infra_failures[-1]}"
        return InfraEvent("model_hung" if record.hung else "model_service", f"{failures} {waited}")
    return None


def agent_run_event(record: TokenRecord | None, succeeded: bool) -> InfraEvent | None:
    """The rule for a run of an agent's code: its model calls met an infrastructure failure and it did not
    succeed. An agent that succeeded despite a failed call (it retried) keeps its verdict; one that failed
    after the service failed it is not judged, whatever its exit code or its text says."""
    return None if succeeded else from_token_record(record)
