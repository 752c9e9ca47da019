"""The shared outcome rules for a model call charged to one node, on a real archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendgm.archive import Archive
from opendgm.llm import BudgetExceeded, MalformedResponse, ServerError
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

        assert call_for(archive, outage, "proposer", _raise(ServerError("503 from the server"))) is None
        assert (archive.node(outage).status, archive.node(outage).status_reason) == (
            "failed",
            "proposer: ServerError: 503 from the server",
        )

        rejects = "the proposer returned no prompt"
        assert call_for(archive, empty, "proposer", _raise(MalformedResponse("empty")), empty_rejects=rejects) is None
        assert archive.node(empty).status == "rejected" and archive.node(empty).status_reason.startswith(rejects)

        # without empty_rejects an empty answer is an ordinary model failure
        assert call_for(archive, broke, "MRM", _raise(MalformedResponse("empty"))) is None
        assert (
            archive.node(broke).status == "failed"
            and archive.node(broke).status_reason == "MRM: MalformedResponse: empty"
        )

        with pytest.raises(BudgetExceeded):
            call_for(archive, spent, "proposer", _raise(BudgetExceeded("usd limit reached")), empty_rejects=rejects)
        assert (archive.node(spent).status, archive.node(spent).status_reason) == ("failed", "budget exhausted")
