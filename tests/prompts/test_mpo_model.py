"""MPO's loop with the real embedded model (SmolLM2-135M) as judge and meta-reward model.

A 135M model writes poor rubrics (often none, so the child is rejected); this proves real completions flow
through the Router into rubric nodes, interval records and ledger rows charged to the right nodes.
"""

from __future__ import annotations

import json
from functools import partial

import pytest

from opendgm.archive import Archive
from opendgm.llm import Router
from opendgm.llm.roles import LLMConfig
from opendgm.prompts import mpo
from opendgm.prompts.rubrics import RubricLoop, Settings, seed_rubric
from opendgm.prompts.target import completer

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_an_mpo_refinement_with_the_embedded_model(llama_server, tmp_path):
    role = {"model": "openai/local", "api_base": llama_server.base_url}
    llm = LLMConfig.model_validate({"roles": {"judge": role | {"max_tokens": 16}, "meta": role | {"max_tokens": 32}}})
    with Archive.create(tmp_path / "mpo", "smol-mpo") as archive:
        router = Router(llm.roles, ledger=archive.ledger, campaign="smol-mpo")
        seed = seed_rubric(archive, "<item>Award 10 points for a correct final answer.</item>")
        settings = Settings(interval=2, samples=1, task="Answer arithmetic questions.")
        judge, mrm = partial(completer, router, "judge"), partial(completer, router, "meta")
        loop = RubricLoop(archive, seed, judge, mrm, settings)
        for step in range(4):  # two intervals: the second is judged under the child when it was adopted
            loop.score([_sample(step, k) for k in (1, 2)])

        first = archive.children(seed)[0]
        assert first.operator == "mpo" and first.status in ("evaluated", "rejected")  # junk is rejected
        refining = [c for c in archive.ledger.calls(node=first.id) if c.purpose == "mpo refine"]
        assert len(refining) in (2, 3)  # analysis and refinement, then the merge when items came out
        judged_under = first.id if first.status == "evaluated" else seed  # the rubric of the second interval
        judging = [c.purpose for c in archive.ledger.calls(node=judged_under) if c.purpose.startswith("mpo judge")]
        assert judging[-4:] == [f"mpo judge s{step}-{k}" for step in (2, 3) for k in (1, 2)]
        recorded = [
            (e.node_id, _rubrics(archive, e.data["artifact"])) for e in archive.events() if e.kind == "mpo_interval"
        ]
        assert recorded == [(seed, [seed] * 4), (judged_under, [judged_under] * 4)]


def _rubrics(archive: Archive, artifact: str) -> list[str]:
    """The rubric each judged sample of an interval artifact was scored under."""
    return [json.loads(line)["rubric"] for line in archive.artifacts.read_text(artifact).splitlines()]


def _sample(step: int, k: int) -> mpo.Sample:
    """An addition question whose response is wrong for odd k, so the MRM has a failure to look at."""
    return mpo.Sample(f"s{step}-{k}", f"What is {k} + {step}?", str(k + step + k % 2), str(k + step), float(k % 2 == 0))
