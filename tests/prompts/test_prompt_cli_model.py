"""`opendgm run` on the shipped PE2 example with the embedded model (the campaign starts its own llama.cpp
server), then `opendgm tree` and `opendgm show` on the prompt lineage: shrunk so it takes seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from opendgm.archive import Archive
from opendgm.cli import app

pytestmark = [pytest.mark.model, pytest.mark.slow]
EXAMPLE = Path(__file__).parents[2] / "examples" / "prompts" / "pe2-smollm2.yaml"
WIDE = {"COLUMNS": "220"}


def invoke(*args: str | Path) -> str:
    result = CliRunner().invoke(app, [str(arg) for arg in args], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def test_run_tree_and_show_a_pe2_campaign_on_the_embedded_model(embedded_model: None, tmp_path: Path) -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["dataset"]["sizes"] = [2, 2, 2]
    raw["pe2"] = {"steps": 1, "beam": 1, "children": 1, "batch_size": 1, "max_words": 30}
    raw["llm"]["roles"]["meta"]["max_tokens"] = 48
    config = tmp_path / "pe2.yaml"
    config.write_text(yaml.safe_dump(raw))

    ran = invoke("run", config, "--dir", tmp_path / "c")
    assert "best prompt" in ran and "test" in ran

    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed, *children = archive.nodes(kind="prompt")
        (meta_prompt,) = archive.nodes(kind="meta_prompt")
        (child,) = children
        assert child.parent_id == seed.id and child.operator == "pe2"
        stages = {s.stage: s for s in archive.scores(seed.id)}
        assert set(stages) == {"train", "dev", "test"} and all(s.complete for s in stages.values())
        assert archive.ledger.totals().calls >= 2 + 2 + 2 + 2  # train, dev, test of the seed; PE2's two turns

    tree = invoke("tree", tmp_path / "c")
    assert f"{seed.id} prompt evaluated seed" in tree and f"{child.id} prompt" in tree
    assert "train " in tree and "dev " in tree and "test " in tree
    shown = invoke("show", tmp_path / "c", seed.id)
    assert "Add the two numbers." in shown and "prompt:base8" in shown and "base8-" in shown  # per-example rows
    made_by = invoke("show", tmp_path / "c", meta_prompt.id)
    assert f"{child.id} produced_by {meta_prompt.id}" in made_by and "fitness" in made_by
