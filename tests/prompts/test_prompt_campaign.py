"""A standalone PE2 campaign with a scripted model: prompt nodes with lineage, produced_by edges to the
PE2 meta-prompt, train/dev/test stages under one versioned evaluator, test used only for the report."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from opendgm.archive import Archive, credit
from opendgm.cli import app
from opendgm.evolve.config import load_any
from opendgm.evolve.prompt_campaign import PromptCampaign
from opendgm.llm import Router
from opendgm.llm.roles import RetryPolicy
from opendgm.outcomes import InfrastructureFailure
from opendgm.prompts.config import MetaPromptOptions, PromptCampaignConfig
from tests.support.cli_batch import run_commands
from tests.support.scripted_prompt_models import HYPER_MUTATION_LINE, REVERSED_ITEM, REWRITE, SEED_RUBRIC, ReverseScript


def config(script: ReverseScript, **pe2: int) -> PromptCampaignConfig:
    def role(model: str) -> dict[str, object]:
        return {"model": f"openai/{model}", "api_base": script.base_url, "max_tokens": 32}

    return PromptCampaignConfig.model_validate(
        {
            "name": "reverse",
            "llm": {"roles": {"target": role("target"), "meta": role("proposer")}},
            "dataset": {"builtin": "reverse", "sizes": [4, 4, 6]},
            "pe2": {"steps": 2, "beam": 2, "children": 2, "batch_size": 2} | pe2,
            "seed_prompts": ["Answer the question."],
        }
    )


def run(root, cfg: PromptCampaignConfig):
    with Archive.open(root) as archive:
        router = Router(cfg.llm.roles, ledger=archive.ledger, campaign=cfg.name)
        return PromptCampaign(cfg, archive, router).run()


def test_pe2_campaign_writes_lineage_and_scores(tmp_path, reverse_script):
    cfg = config(reverse_script)
    Archive.create(tmp_path / "c", cfg.name).close()
    report = run(tmp_path / "c", cfg)

    assert (report.best.text, report.best.dev, report.best_test) == (REWRITE, 1.0, 1.0)
    assert (report.seed.text, report.seed.dev, report.seed_test) == ("Answer the question.", 0.0, 0.0)
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        (meta,) = archive.nodes(kind="meta_prompt")
        assert meta.meta["role"] == "pe2" and "=== step 2 ===" in meta.content
        prompts = archive.nodes(kind="prompt")
        seed, children = prompts[0], prompts[1:]
        # Step 1: the seed's two children. Step 2: the best child solves all of train (no hard negatives,
        # so no children), so the back-tracking beam's second member, the seed, gets two more.
        assert len(children) == 4 == report.n_prompts - 1
        assert all(c.parent_id == seed.id and c.operator == "pe2" and c.status == "evaluated" for c in children)
        assert [c.meta["step"] for c in children] == [1, 1, 2, 2]
        produced = {(e.src, e.dst) for e in archive.edges() if e.kind == "produced_by"}
        assert produced == {(c.id, meta.id) for c in children}

        train_ids = {f"reverse-{i:04d}" for i in range(4)}
        for child in children:
            assert set(child.meta["batch"]) <= train_ids and len(child.meta["batch"]) == 2
            assert child.meta["reasoning"] == "The prompt never asks to reverse."
            assert archive.cost(child.id).calls >= 2  # the proposer's calls are charged to the child

        stages = {n.id: {(s.evaluator, s.stage): s.score for s in archive.scores(n.id)} for n in prompts}
        assert stages[report.best.id] == {
            ("prompt:reverse", "dev"): 1.0,
            ("prompt:reverse", "train"): 1.0,
            ("prompt:reverse", "test"): 1.0,
        }
        assert [n for n, s in stages.items() if ("prompt:reverse", "test") in s] == [seed.id, report.best.id]
        version = archive.scores(seed.id)[0].evaluator_version
        assert "exact_match-1" in version and "openai/target" in version
        result = archive.results(seed.id, "prompt:reverse")[0]
        inputs = {e.id: e.input for s in ("train", "dev", "test") for e in cfg.dataset.load().split(s)}
        assert result.detail == inputs[result.task_id] and not result.resolved  # the echo, kept as a hard negative

    # Proposals show only failures of the parent on train, never dev or test inputs.
    train_inputs = {b["messages"][0]["content"] for b in reverse_script.calls("target")}
    for body in reverse_script.calls("proposer"):
        shown = [
            line[len("Input: ") :] for line in body["messages"][0]["content"].splitlines() if line.startswith("Input: ")
        ]
        assert len(shown) == 2 and all(any(f"Q: {w}\n" in t for t in train_inputs) for w in shown)
    # Identical prompt texts share results: 4 scored (seed, first child) x (train 4 + dev 4) + 2 x test 6.
    assert len(reverse_script.calls("target")) == 2 * 8 + 2 * 6


def test_a_rerun_resumes_from_the_archive_without_new_calls(tmp_path, reverse_script):
    cfg = config(reverse_script)
    Archive.create(tmp_path / "c", cfg.name).close()
    first = run(tmp_path / "c", cfg)
    sent = reverse_script.count
    again = run(tmp_path / "c", cfg)
    assert reverse_script.count == sent
    assert (again.best, again.best_test, again.n_prompts) == (first.best, first.best_test, first.n_prompts)


def test_opendgm_run_takes_a_prompt_campaign_config(tmp_path, reverse_script):
    path = tmp_path / "prompt.yaml"
    path.write_text(yaml.safe_dump(config(reverse_script, steps=1).model_dump(mode="json")))
    result = CliRunner().invoke(app, ["run", str(path), "--dir", str(tmp_path / "c")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "best prompt" in result.output and "test" in result.output
    logged = [line for line in result.output.splitlines() if re.match(r"\[\d+:\d\d:\d\d\] ", line)]
    assert any(" (prompt) was added" in line for line in logged), result.output  # not a terminal: a line per event
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        assert {node.kind for node in archive.nodes()} == {"prompt", "meta_prompt"}


def test_shipped_prompt_examples_are_valid_and_bad_ones_are_explained(tmp_path):
    examples = {path.stem: path for path in (Path(__file__).parents[2] / "examples" / "prompts").glob("*.yaml")}
    assert {load_any(path).operator for path in examples.values()} == {"pe2", "ape", "opro"}
    raw = yaml.safe_load(examples["pe2-smollm2"].read_text())
    mistakes = [
        ({"operator": "gepa"}, "operator: Input should be 'pe2', 'ape' or 'opro'"),
        ({"local_server": None}, "'target'] use api_base `local` but no local_server is configured"),
        ({"pe2": {"beam": 0}}, "pe2.beam: Input should be greater than or equal to 1"),
        ({"judge": {"rubric": "<item>Be right.</item>"}}, "llm.roles lacks ['judge']"),
    ]
    runs = []
    for number, (change, _message) in enumerate(mistakes):
        bad = tmp_path / f"bad{number}.yaml"
        bad.write_text(yaml.safe_dump(raw | change))
        runs.append(["run", bad, "--dir", tmp_path / "never"])
    results = run_commands(runs, env=os.environ | {"COLUMNS": "300"})  # one child: the imports are paid once
    for (_change, message), result in zip(mistakes, results, strict=True):
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / "never").exists()


def test_pe2_meta_prompt_evolves_inside_a_prompt_campaign(tmp_path, reverse_script):
    """Before step 2 the PE2 meta-prompt is hyper-mutated; the untried rewrite makes the step's first child,
    and the shipped meta-prompt's fitness is the dev gain of the children it made. A rerun calls nobody."""
    cfg = config(reverse_script).model_copy(update={"meta_prompts": MetaPromptOptions(hyper_mutation=True)})
    Archive.create(tmp_path / "c", cfg.name).close()
    first = run(tmp_path / "c", cfg)
    sent = reverse_script.count
    assert run(tmp_path / "c", cfg) == first and reverse_script.count == sent

    with Archive.open(tmp_path / "c", readonly=True) as archive:
        shipped, mutant = archive.nodes(kind="meta_prompt")
        assert (mutant.operator, mutant.parent_id, mutant.status) == ("hyper_mutation", shipped.id, "built")
        assert mutant.meta == {"role": "pe2", "step": 2} and mutant.content.endswith(HYPER_MUTATION_LINE)
        assert archive.cost(mutant.id).calls == 1
        made_by = {e.src: e.dst for e in archive.edges() if e.kind == "produced_by"}
        step_two = [n for n in archive.nodes(kind="prompt") if n.meta.get("step") == 2]
        assert [made_by[n.id] for n in step_two] == [mutant.id, shipped.id]  # untried first, then UCB1
        records = credit.fitness(archive)
        assert records[shipped.id].gains[:2] == [1.0, 1.0]  # step 1: dev 0 -> 1, twice


def test_a_judge_under_an_mpo_rubric_selects_and_exact_match_stays_gold(tmp_path, reverse_script):
    """The seed rubric pays any answer (so the judge cannot tell the seed prompt from PE2's fix); after one
    interval the meta-reward model's rubric pays only reversed words, the pool is re-judged under it, and
    the fix wins. Judge scores name their rubric; exact match is recorded as the gold beside them."""
    raw = config(reverse_script, steps=1, children=1).model_dump(mode="json")
    raw["llm"]["roles"]["judge"] = {"model": "openai/judge", "api_base": reverse_script.base_url, "max_tokens": 32}
    raw["judge"] = {"rubric": SEED_RUBRIC, "interval": 2, "samples": 2, "task": "Reverse the word."}
    cfg = PromptCampaignConfig.model_validate(raw)
    Archive.create(tmp_path / "c", cfg.name).close()
    report = run(tmp_path / "c", cfg)
    sent = reverse_script.count
    assert run(tmp_path / "c", cfg) == report and reverse_script.count == sent  # a rerun calls nobody

    assert (report.best.text, report.best.dev, report.best_test) == (REWRITE, 1.0, 1.0)
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        seed_rubric, refined = archive.nodes(kind="rubric")
        assert (refined.parent_id, refined.operator, refined.status) == (seed_rubric.id, "mpo", "evaluating")
        assert REVERSED_ITEM in refined.content
        seed, fix = archive.nodes(kind="prompt")
        judged = {(s.evaluator_version.rsplit("rubric:", 1)[1], n.id): s.score
                  for n in (seed, fix) for s in archive.scores(n.id) if s.evaluator == "judge:reverse"}  # fmt: skip
        assert judged == {(seed_rubric.id, seed.id): 1.0, (seed_rubric.id, fix.id): 1.0,
                          (refined.id, seed.id): 0.0, (refined.id, fix.id): 1.0}  # fmt: skip
        under = {(e.src, e.dst) for e in archive.edges() if e.kind == "scored_under"}
        assert under == {
            (seed.id, seed_rubric.id),
            (fix.id, seed_rubric.id),
            (seed.id, refined.id),
            (fix.id, refined.id),
        }
        (interval,) = [e.data for e in archive.events() if e.kind == "mpo_interval"]
        assert (interval["rubric"], interval["proxy"], interval["gold"]) == (seed_rubric.id, 8.0, 0.5)
        assert archive.cost(refined.id).calls >= 3  # analysis and rewrite per sample, then the merge


def test_a_proposal_cut_off_by_the_model_service_is_resumed_not_failed(tmp_path, reverse_script):
    """Issue 13: the proposer's service fails mid-step (an infrastructure stop); the half-made child keeps no
    verdict, a healthy resume finishes it, and the archive matches an undisturbed run's."""
    cfg = config(reverse_script)
    Archive.create(tmp_path / "calm", cfg.name).close()
    calm = run(tmp_path / "calm", cfg)

    down = cfg.llm.roles["meta"].model_copy(update={"api_base": "http://127.0.0.1:9"})
    roles = cfg.llm.roles | {"meta": down}
    Archive.create(tmp_path / "c", cfg.name).close()
    with Archive.open(tmp_path / "c") as archive:
        router = Router(roles, ledger=archive.ledger, campaign=cfg.name, retry=RetryPolicy(attempts=1))
        with pytest.raises(InfrastructureFailure):
            PromptCampaign(cfg, archive, router).run()
    resumed = run(tmp_path / "c", cfg)

    def shape(root: Path) -> list[tuple[str | None, str, str, object]]:
        with Archive.open(root, readonly=True) as archive:
            return [(n.parent_id, n.status, str(n.content), n.meta.get("step")) for n in archive.nodes(kind="prompt")]

    assert not [row for row in shape(tmp_path / "c") if row[1] in ("failed", "rejected")]
    assert shape(tmp_path / "c") == shape(tmp_path / "calm")
    assert (resumed.best.text, resumed.best_test, resumed.n_prompts) == (calm.best.text, calm.best_test, calm.n_prompts)
