"""How a model call made for one archive node ends for that node.

Every prompt-evolution step (a proposal, a hyper-mutation, a rubric refinement) first creates its node so
the calls are charged to it, then asks a model. The outcome rules are the same everywhere: a spent budget
fails the node and stops the campaign; any other model error fails only this node, with the reason, and
the campaign goes on; where an empty answer is a bad product rather than an outage, it rejects the node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from opendgm.archive import Archive
from opendgm.llm import BudgetExceeded, LLMError, MalformedResponse

T = TypeVar("T")


def call_for(
    archive: Archive, node_id: str, who: str, call: Callable[[], T], *, empty_rejects: str | None = None
) -> T | None:
    """`call()`'s answer, or None once the node has been failed (or, with `empty_rejects`, rejected with that
    reason for an empty answer). BudgetExceeded is re-raised after failing the node."""
    try:
        return call()
    except BudgetExceeded:
        archive.set_status(node_id, "failed", "budget exhausted")
        raise
    except LLMError as exc:
        if empty_rejects is not None and isinstance(exc, MalformedResponse):
            archive.set_status(node_id, "rejected", f"{empty_rejects}: {exc}")
        else:
            archive.set_status(node_id, "failed", f"{who}: {exc}")
        return None
