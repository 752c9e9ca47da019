"""The whole PE2 path with the real embedded model (SmolLM2-135M) as task model and proposer.

A 135M model will not find better prompts; this proves real completions flow through the Router into
prompt nodes, stages and ledger rows.
"""

from __future__ import annotations

import pytest

from opendgm.archive import Archive
from opendgm.evolve.prompt_campaign import PromptCampaign
from opendgm.llm import Router
from opendgm.prompts.config import PromptCampaignConfig

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_a_pe2_step_with_the_embedded_model(llama_server, tmp_path):
    role = {"model": "openai/local", "api_base": llama_server.base_url}
    cfg = PromptCampaignConfig.model_validate(
        {
            "name": "smol",
            "llm": {"roles": {"target": role | {"max_tokens": 8}, "meta": role | {"max_tokens": 48}}},
            "dataset": {"builtin": "second_letter", "sizes": [2, 2, 2]},
            "pe2": {"steps": 1, "beam": 1, "children": 1, "batch_size": 1},
            "seed_prompts": ["Write a number."],  # wrong on purpose, so train has hard negatives
        }
    )
    with Archive.create(tmp_path / "c", cfg.name) as archive:
        router = Router(cfg.llm.roles, ledger=archive.ledger, campaign=cfg.name)
        report = PromptCampaign(cfg, archive, router).run()
        seed, *children = archive.nodes(kind="prompt")
        assert seed.status == "evaluated"
        (child,) = children
        assert child.parent_id == seed.id and child.operator == "pe2"
        assert child.status in ("evaluated", "rejected")  # a tiny model may return no usable prompt
        # Reasoning and rewrite, then (when evaluated) one dev call per example.
        assert archive.cost(child.id).calls == (4 if child.status == "evaluated" else 2)
        assert {e.kind for e in archive.edges(child.id)} == {"produced_by"}
        assert {s.stage for s in archive.scores(seed.id) if s.complete} == {"train", "dev", "test"}
        if child.status == "evaluated":
            assert {s.stage for s in archive.scores(child.id) if s.complete} >= {"dev"}
        assert 0.0 <= report.best_test <= 1.0 and report.seed.id == seed.id
        assert archive.cost(seed.id).calls == 2 + 2 + 2  # train, dev, test: one call per example
