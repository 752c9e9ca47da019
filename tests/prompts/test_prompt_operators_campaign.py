"""APE and OPRO campaigns with the scripted model: prompt nodes with lineage and produced_by edges to the
operator's meta-prompt, duplicates rejected before any task-model call, dev selects and test only
reports, the proposer sees train only, and a rerun makes no new calls."""

from __future__ import annotations

import json
import re

from opendgm.archive import Archive
from opendgm.evolve.prompt_campaign import PromptCampaign, Report
from opendgm.llm import Router
from opendgm.prompts.config import PromptCampaignConfig
from tests.support.llm_fakes import Reply, completion
from tests.support.scripted_prompt_models import ReverseScript, induced, opro_proposal

SEED = "Answer the question."
SHOWN_INPUT = re.compile(r"^(?:Input: |Q: )(\w+)$", re.MULTILINE)


def operator_config(script: ReverseScript, operator: str, options: dict, **fields: object) -> PromptCampaignConfig:
    roles = {
        name: {"model": f"openai/{model}", "api_base": script.base_url, "max_tokens": 32}
        for name, model in [("target", "target"), ("meta", "proposer")]
    }
    dataset = {"builtin": "reverse", "sizes": [4, 4, 6]}
    spec = {"name": operator, "llm": {"roles": roles}, "dataset": dataset, "seed_prompts": [SEED]}
    return PromptCampaignConfig.model_validate(spec | {"operator": operator, operator: options} | fields)


def run(root, cfg: PromptCampaignConfig) -> Report:
    with Archive.open(root) as archive:
        return PromptCampaign(cfg, archive, Router(cfg.llm.roles, ledger=archive.ledger)).run()


def run_twice(root, cfg: PromptCampaignConfig, script: ReverseScript) -> Report:
    """Run the campaign, then rerun it on the same archive: the rerun must change nothing and call nobody."""
    Archive.create(root, cfg.name).close()
    first = run(root, cfg)
    sent = script.count
    assert run(root, cfg) == first and script.count == sent
    return first


def proposer_inputs(script: ReverseScript) -> set[str]:
    return {w for body in script.calls("proposer") for w in SHOWN_INPUT.findall(body["messages"][0]["content"])}


def stages(archive: Archive, node_id: str) -> dict[str, float]:
    return {s.stage: s.score for s in archive.scores(node_id)}


def test_ape_induces_from_train_demos_then_varies_the_best(tmp_path, reverse_script):
    cfg = operator_config(reverse_script, "ape", {"candidates": 4, "demos": 2, "paraphrase_steps": 1, "keep": 2})
    report = run_twice(tmp_path / "c", cfg, reverse_script)

    data = cfg.dataset.load()
    train_ids = {e.id for e in data.train}
    assert (report.seed.text, report.seed.dev, report.seed_test) == (SEED, 0.0, 0.0)
    assert (report.best.dev, report.best_test) == (1.0, 1.0)
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        metas = {n.meta["role"]: n for n in archive.nodes(kind="meta_prompt")}
        assert set(metas) == {"ape", "ape_paraphrase"}
        seed, *children = archive.nodes(kind="prompt")
        induction = [c for c in children if c.operator == "ape"]
        variations = [c for c in children if c.operator == "ape_paraphrase"]
        assert len(induction) == len(variations) == 4 and len(children) == 8
        # Four demo sets, one repeating an earlier first demo: its instruction is a duplicate.
        assert [c.status for c in induction] == ["evaluated"] * 3 + ["rejected"]
        assert "the same prompt as" in induction[3].status_reason and not archive.scores(induction[3].id)
        inputs = {e.id: e.input for e in data.train}
        for child in induction:
            assert child.parent_id == seed.id and child.meta["step"] == 1
            assert set(child.meta["demos"]) <= train_ids and len(child.meta["demos"]) == 2
            assert child.content == induced(inputs[child.meta["demos"][0]])
        assert report.best.id == induction[0].id  # dev ties go to the oldest
        # Step 2 varies the two best on dev in turn; the second round repeats the first and is rejected.
        best_two = [c.id for c in induction[:2]]
        assert [c.parent_id for c in variations] == best_two * 2
        assert [c.status for c in variations] == ["evaluated"] * 2 + ["rejected"] * 2
        assert all(c.meta["shown"] == [c.parent_id] and c.meta["step"] == 2 for c in variations)
        assert variations[0].content.startswith("In other words: Reverse")
        produced = {(e.src, e.dst) for e in archive.edges() if e.kind == "produced_by"}
        assert produced == {(c.id, metas[c.operator].id) for c in children}
        # One proposer call per child, then its dev answers (and the winner's test ones): all charged to it.
        calls = [1 + 4 * (c.status == "evaluated") + 6 * (c.id == report.best.id) for c in children]
        assert [archive.cost(c.id).calls for c in children] == calls
        assert stages(archive, report.best.id) == {"dev": 1.0, "test": 1.0}
        assert all("test" not in stages(archive, c.id) for c in children if c.id != report.best.id)
        assert report.n_prompts == 6
    shown = proposer_inputs(reverse_script)
    assert shown and shown <= {e.input for e in data.train}
    # Seed dev + test, 5 distinct children on dev, the winner on test; duplicates cost nothing.
    assert len(reverse_script.calls("target")) == 4 + 6 + 5 * 4 + 6


def test_opro_proposes_from_its_ascending_history(tmp_path, reverse_script):
    cfg = operator_config(reverse_script, "opro", {"steps": 2, "per_step": 2, "exemplars": 2})
    report = run_twice(tmp_path / "c", cfg, reverse_script)

    assert (report.seed.dev, report.seed_test) == (0.0, 0.0)
    assert (report.best.text, report.best.dev, report.best_test) == (opro_proposal(1), 1.0, 1.0)
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        (meta,) = archive.nodes(kind="meta_prompt")
        assert meta.meta["role"] == "opro"
        seed, *children = archive.nodes(kind="prompt")
        assert [(c.operator, c.meta["step"], c.status) for c in children] == [
            ("opro", 1, "evaluated"),
            ("opro", 1, "rejected"),  # the same proposal twice: deduped before scoring
            ("opro", 2, "evaluated"),
            ("opro", 2, "rejected"),
        ]
        first, _, second, _ = children
        # Each child hangs under the best prompt it was shown, which comes last in the history.
        assert first.parent_id == seed.id and first.meta["shown"] == [seed.id]
        assert second.parent_id == first.id and second.meta["shown"] == [seed.id, first.id]
        train_ids = {e.id for e in cfg.dataset.load().train}
        assert all(set(c.meta["exemplars"]) <= train_ids and len(c.meta["exemplars"]) == 2 for c in children)
        assert {(e.src, e.dst) for e in archive.edges() if e.kind == "produced_by"} == {
            (c.id, meta.id) for c in children
        }
        assert stages(archive, seed.id) == {"train": 0.0, "dev": 0.0, "test": 0.0}
        assert stages(archive, first.id) == {"train": 1.0, "dev": 1.0, "test": 1.0}
        assert stages(archive, second.id) == {"dev": 1.0}  # the last step's children are never shown
    step2 = reverse_script.calls("proposer")[-1]["messages"][0]["content"]
    assert step2.index(f"text:\n{SEED}\nscore:\n0\n") < step2.index(f"text:\n{opro_proposal(1)}\nscore:\n100")
    shown = proposer_inputs(reverse_script)
    assert shown and shown <= {e.input for e in cfg.dataset.load().train}
    # Seed train + dev + test, first child dev + train, second child dev, the winner on test.
    assert len(reverse_script.calls("target")) == 4 + 4 + 6 + 4 + 4 + 4 + 6


def test_opro_shows_train_scores_never_dev_ones(tmp_path, reverse_script):
    """Palindromes are right even when echoed: the seed scores 75 on train and 0 on dev."""
    splits = {"train": ["level", "noon", "kayak", "apple"], "dev": ["lemon", "melon"], "test": ["grape", "peach"]}
    rows = [{"input": w, "target": w[::-1], "split": s} for s, words in splits.items() for w in words]
    path = tmp_path / "words.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    options = {"steps": 1, "per_step": 1, "exemplars": 4}
    cfg = operator_config(reverse_script, "opro", options, dataset={"jsonl": str(path)})
    report = run_twice(tmp_path / "c", cfg, reverse_script)

    assert report.seed.dev == 0.0 and report.best.dev == 1.0
    (call,) = reverse_script.calls("proposer")
    assert f"text:\n{SEED}\nscore:\n75\n" in call["messages"][0]["content"]
    assert proposer_inputs(reverse_script) == set(splits["train"])


def test_empty_proposals_are_rejected_not_fatal(tmp_path, reverse_script):
    reverse_script.script = [Reply(body=completion(None)), Reply(body=completion('<prompt>""</prompt>'))]
    cfg = operator_config(reverse_script, "opro", {"steps": 1, "per_step": 3})
    report = run_twice(tmp_path / "c", cfg, reverse_script)

    assert report.best.text == opro_proposal(1)
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        _, *children = archive.nodes(kind="prompt")
        assert [c.status for c in children] == ["rejected", "rejected", "evaluated"]
        assert all(c.status_reason.startswith("the proposer returned no prompt") for c in children[:2])
        assert all(not archive.scores(c.id) for c in children[:2])
