"""How a model call made for one archive node ends for that node.

Every prompt-evolution step (a proposal, a hyper-mutation, a rubric refinement) first creates its node so
the calls are charged to it, then asks a model. The outcome rule is the one of `opendgm.outcomes`: a failure
of the model service or the budget is an infrastructure event (logged on the node, which is neither failed
nor rejected for it, and raised so the campaign stops to be resumed); a request the service refused as bad
fails only this node, with the reason, and the campaign goes on; where an empty answer is a bad product
rather than an outage (EmptyCompletion), it rejects the node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from opendgm.archive import Archive
from opendgm.llm import BudgetExceeded, EmptyCompletion, LLMError
from opendgm.outcomes import InfrastructureFailure, from_llm_error

T = TypeVar("T")


def call_for(
    archive: Archive, node_id: str, who: str, call: Callable[[], T], *, empty_rejects: str | None = None
) -> T | None:
    """`call()`'s answer, or None once the node has been failed (or, with `empty_rejects`, rejected with that
    reason for an empty answer). BudgetExceeded is re-raised, any other infrastructure failure raised as
    InfrastructureFailure; the node keeps its status either way."""
    try:
        return call()
    except LLMError as exc:
        event = from_llm_error(exc)
        if event is not None:
            archive.log_event("infrastructure_failure", node_id, {"kind": event.kind, "detail": f"{who}: {exc}"})
            if isinstance(exc, BudgetExceeded):
                raise
            raise InfrastructureFailure(event) from exc
        if empty_rejects is not None and isinstance(exc, EmptyCompletion):
            archive.set_status(node_id, "rejected", f"{empty_rejects}: {exc}")
        else:
            archive.set_status(node_id, "failed", f"{who}: {exc}")
        return None
