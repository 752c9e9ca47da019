"""PE2 and hyper-mutation as configured operators of an agent campaign, with the scripted model.

The scripted model's PE2 rewrite really helps (it adds a line asking for bash blocks, which the seed agent
runs), so the PE2 meta-prompt earns a measurable fitness; its hyper-mutation keeps every placeholder.
"""

from __future__ import annotations

import random
from pathlib import Path

from typer.testing import CliRunner

from opendgm.archive import Archive, credit
from opendgm.cli import app
from opendgm.evolve.campaign import run_campaign
from opendgm.prompts import meta_prompts
from tests.evolve.test_campaign import config
from tests.support.scripted_models import BASH_HINT, HYPER_MUTATION_LINE, CapabilityScript

WIDE = {"COLUMNS": "220"}


def test_pe2_and_hyper_mutation_children_are_ordinary_archive_nodes(
    script: CapabilityScript, docker_engine: str, tmp_path: Path
) -> None:
    # With seed 0 the first generation draws one pe2 child and one hyper-mutation.
    operators = {"self_improve": 0.0, "pe2": 1.0, "hyper_mutation": 1.0}
    cfg = config(script, "docker", operators=operators, children_per_generation=2, seed=0)
    assert run_campaign(cfg, tmp_path / "c") == "done: 1 generations"

    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed, child = archive.nodes(kind="agent")
        assert (child.operator, child.parent_id, child.status) == ("pe2", seed.id, "evaluated"), child.status_reason
        assert archive.best_score(seed.id) == 0.0 and archive.best_score(child.id) == 1.0
        assert child.meta["slot"] in ("prompts/system.md", "prompts/instance.md")
        assert f"+{BASH_HINT}" in archive.diff_to_parent(child.id)
        assert archive.cost(child.id).calls >= 2  # PE2's two turns are charged to the child

        by_role = {}
        for node in archive.nodes(kind="meta_prompt"):
            by_role.setdefault(node.meta["role"], []).append(node)
        pe2_seed, mutant = by_role["pe2"]
        assert [e.dst for e in archive.edges(child.id) if e.kind == "produced_by"] == [pe2_seed.id]
        assert (mutant.operator, mutant.parent_id, mutant.status) == ("hyper_mutation", pe2_seed.id, "built")
        assert mutant.content.endswith(HYPER_MUTATION_LINE) and "$examples" in mutant.content
        assert archive.cost(mutant.id).calls == 1
        assert {role: len(nodes) for role, nodes in by_role.items()} == {"diagnosis": 1, "self_improve": 1, "pe2": 2}

        records = credit.fitness(archive)
        assert records[pe2_seed.id].mean_gain == 1.0  # its child solved 2/2 where the parent solved 0/2
        chooser = meta_prompts.Chooser(meta_prompts.usable(archive), records, 0.5, random.Random(0))
        assert chooser.choose("pe2") == mutant.id, "the untried hyper-mutation is used next"

    runner = CliRunner()
    shown = runner.invoke(app, ["show", str(tmp_path / "c"), pe2_seed.id], env=WIDE)
    assert shown.exit_code == 0, shown.output
    assert "fitness +1.000: mean gain over 1 judged children (1 improved" in shown.output
    assert child.id in shown.output
    tree = runner.invoke(app, ["tree", str(tmp_path / "c")], env=WIDE)
    assert tree.exit_code == 0, tree.output
    assert f"{pe2_seed.id} meta_prompt built seed  fitness +1.000 (1 judged of 1 children)" in tree.output
    assert f"{mutant.id} meta_prompt built hyper_mutation" in tree.output
    assert f"{child.id} agent evaluated pe2" in tree.output
    status = runner.invoke(app, ["status", str(tmp_path / "c")], env=WIDE)
    assert status.exit_code == 0, status.output
    assert f"4 (1 diagnosis, 2 pe2, 1 self_improve); fittest {pe2_seed.id} +1.000" in status.output
