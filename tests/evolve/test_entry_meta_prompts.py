"""A special entry's diagnosis meta-prompt is the one a child names: its `produced_by` edges point at the
meta-prompts actually used, so a meta-prompt is credited (or blamed) only for children it helped make."""

from __future__ import annotations

import random
from pathlib import Path

from opendgm.archive import credit
from opendgm.evaluators.humaneval import HumanEval
from opendgm.evolve import proposals
from opendgm.evolve.campaign import open_campaign
from opendgm.evolve.config import CampaignConfig
from opendgm.prompts import meta_prompts

ROLE = {"model": "openai/unused", "api_base": "http://127.0.0.1:9/v1"}


def test_a_special_entry_replaces_the_plain_diagnosis_edge(tmp_path: Path) -> None:
    config = CampaignConfig.model_validate(
        {"llm": {"roles": {"agent": ROLE, "meta": ROLE}}, "stages": [{"subset": "small"}]}
    )
    with open_campaign(config, tmp_path / "c") as campaign:
        archive = campaign.archive  # the meta-prompts' seeds are in it
        code = tmp_path / "agent"
        code.mkdir()
        (code / "agent.py").write_text("print('seed')\n")
        seed = archive.add_agent(code, operator="seed").id
        rng = random.Random(0)
        chooser = meta_prompts.chooser(archive, 0.5, rng)
        special, plain = (proposals.agent(archive, HumanEval(), "self_improve", seed, chooser, {}) for _ in range(2))
        diagnosis = archive.node(special).meta["meta_prompts"]["diagnosis"]

        used = campaign._entry_meta_prompt(archive.node(special), "stochasticity", rng)
        again = campaign._entry_meta_prompt(archive.node(special), "stochasticity", rng)  # a resumed diagnosis
        kept = campaign._entry_meta_prompt(archive.node(plain), "task", rng)

        def made_by(child: str) -> set[str]:
            return {e.dst for e in archive.edges(child) if e.kind == "produced_by" and e.src == child}

        assert archive.node(used).meta["role"] == "diagnosis_stochasticity" and again == used
        named = archive.node(special).meta["meta_prompts"]
        assert set(named) == {"diagnosis_stochasticity", "self_improve"}, named
        assert made_by(special) == set(named.values()), "the edges name the meta-prompts actually used"
        assert kept == diagnosis and made_by(plain) == set(archive.node(plain).meta["meta_prompts"].values())
        fitness = credit.fitness(archive)
        assert [c.child for c in fitness[diagnosis].credits] == [plain], "the plain diagnosis made only `plain`"
        assert [c.child for c in fitness[used].credits] == [special]
        removed = [e for e in archive.events(node_id=special) if e.kind == "edge_removed"]
        archive.remove_edge(special, diagnosis, "produced_by")  # idempotent: nothing left to remove, nothing logged
        assert [e.data["dst"] for e in archive.events(node_id=special) if e.kind == "edge_removed"] == [diagnosis]
        assert [e.data["dst"] for e in removed] == [diagnosis]
