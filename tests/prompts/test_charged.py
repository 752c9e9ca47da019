"""The shared outcome rules for a model call charged to one node, on a real archive: an outage is an event that
leaves the node as it was; only the service's answer to a bad request, or an empty answer, judges the node."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendgm.archive import Archive
from opendgm.llm import BadRequest, BudgetExceeded, EmptyCompletion, MalformedResponse, ServerError
from opendgm.outcomes import InfrastructureFailure
from opendgm.prompts.charged import call_for


def _raise(error: Exception):
    def call() -> str:
        raise error

    return call


def test_each_outcome_lands_on_the_node(tmp_path: Path) -> None:
    with Archive.create(tmp_path / "a", "charged") as archive:
        seed = archive.add_node("prompt", "p", operator="seed").id
        ok, outage, empty, broke, spent = (archive.propose("prompt", seed, operator="pe2").id for _ in range(5))
        assert call_for(archive, ok, "proposer", lambda: "answer") == "answer"
        assert archive.node(ok).status == "proposed"

        with pytest.raises(InfrastructureFailure, match="model_service"):
            call_for(archive, outage, "proposer", _raise(ServerError("503 from the server")))
        assert archive.node(outage).status == "proposed"  # not failed: resumed once the service is back
        (event,) = [e for e in archive.events(node_id=outage) if e.kind == "infrastructure_failure"]
        assert event.data == {"kind": "model_service", "detail": "proposer: ServerError: 503 from the server"}

        rejects = "the proposer returned no prompt"
        assert call_for(archive, empty, "proposer", _raise(EmptyCompletion("empty")), empty_rejects=rejects) is None
        assert archive.node(empty).status == "rejected" and archive.node(empty).status_reason.startswith(rejects)

        # a malformed answer is a broken service, not a bad product: an event, even with empty_rejects
        with pytest.raises(InfrastructureFailure):
            call_for(archive, broke, "MRM", _raise(MalformedResponse("not json")), empty_rejects=rejects)
        assert archive.node(broke).status == "proposed"

        bad = archive.propose("prompt", seed, operator="pe2").id
        assert call_for(archive, bad, "MRM", _raise(BadRequest("unknown field"))) is None
        assert (archive.node(bad).status, archive.node(bad).status_reason) == (
            "failed",
            "MRM: BadRequest: unknown field",
        )

        with pytest.raises(BudgetExceeded):
            call_for(archive, spent, "proposer", _raise(BudgetExceeded("usd limit reached")), empty_rejects=rejects)
        assert archive.node(spent).status == "proposed"
