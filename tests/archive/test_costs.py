"""The cost report on a small campaign whose figures are computed by hand: spend by purpose, role, operator and
node, the prompt-cache hit rate, agent work per resolved task, and the cost of each improvement; the same figures
in `opendgm cost`, `opendgm status` (and --json) and the exports."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from opendgm.archive import Archive
from opendgm.archive.costs import cost_report, purpose_group
from opendgm.archive.tables import TABLES, write_table
from tests.support.cli_batch import run_commands
from tests.support.cost_campaign import build_cost_campaign


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("costs")
    return build_cost_campaign(work / "campaign", work)


@pytest.fixture(scope="module")
def report(campaign: Path) -> dict:
    with Archive.open(campaign, readonly=True) as archive:
        return cost_report(archive)


def test_spend_by_purpose_role_operator_and_node(report: dict) -> None:
    usd = {name: pytest.approx(line["cost_usd"]) for name, line in report["by_purpose"].items()}
    assert usd == {"agent work": 0.80, "self-modification": 0.60, "diagnosis": 0.15, "checks": 0.01}
    assert list(report["by_purpose"]) == ["agent work", "self-modification", "diagnosis", "checks"]  # costliest first
    assert {k: v["cost_usd"] for k, v in report["by_role"].items()} == pytest.approx({"agent": 1.40, "meta": 0.16})
    operators = {k: v["cost_usd"] for k, v in report["by_operator"].items()}
    assert operators == pytest.approx({"seed": 0.20, "self_improve": 1.35, "(campaign)": 0.01})
    assert report["by_node"]["n0002"]["cost_usd"] == pytest.approx(0.45)
    assert report["by_node"]["n0001"] | {"cost_usd": 0} == {
        "cost_usd": 0, "tokens": 2200, "prompt_tokens": 2000, "completion_tokens": 200, "cache_read_tokens": 1600,
        "cache_write_tokens": 0, "cache_hit_rate": 0.8, "calls": 2, "errors": 0, "operator": "seed",
    }  # fmt: skip
    assert report["total"]["cost_usd"] == pytest.approx(1.56) and report["total"]["calls"] == 15


def test_cache_hit_rate_and_agent_work_per_resolved_task(report: dict) -> None:
    total = report["total"]
    # prompts: 8 task runs x 1000 + 3 self-modifications x 3000 + 3 diagnoses x 2000 + a 100-token check
    assert (total["prompt_tokens"], total["cache_read_tokens"], total["cache_write_tokens"]) == (23100, 13600, 6000)
    assert total["cache_hit_rate"] == pytest.approx(13600 / 23100)
    assert report["per_resolved_task"] == {
        "resolved": 19, "graded": 40, "agent_tokens": 8800, "agent_usd": pytest.approx(0.80),
        "tokens_per_resolved": pytest.approx(8800 / 19), "usd_per_resolved": pytest.approx(0.80 / 19),
    }  # fmt: skip


def test_each_new_best_agent_with_the_campaigns_spend_until_then_and_its_paths(report: dict) -> None:
    steps = [
        (s["node"], s["value"], s["gain"], s["campaign_usd"], s["since_previous_usd"]) for s in report["improvements"]
    ]
    assert report["rule"] == "full_score"  # a generations (DGM) campaign: DGM's best agent
    assert steps == [
        ("n0001", pytest.approx(3 / 10), None, pytest.approx(0.20), pytest.approx(0.20)),
        ("n0002", pytest.approx(6 / 10), pytest.approx(3 / 10), pytest.approx(0.65), pytest.approx(0.45)),
        # n0003 (2/10) was no improvement; its spend counts toward the next one
        ("n0004", pytest.approx(8 / 10), pytest.approx(2 / 10), pytest.approx(1.55), pytest.approx(0.90)),
    ]
    last = report["improvements"][-1]
    assert last["path"] == ["n0001", "n0002", "n0004"] and last["path_usd"] == pytest.approx(1.10)
    assert last["campaign_tokens"] == 2200 + 3 * 7600  # the seed's runs, then three children's
    summary = report["cost_per_improvement"]
    assert (summary["improvements"], summary["baseline"], summary["best"]) == (2, "n0001", "n0004")
    assert summary["usd_per_improvement"] == pytest.approx(1.35 / 2)
    assert summary["usd_per_point"] == pytest.approx(1.35 / (100 * (8 / 10 - 3 / 10)))


@pytest.mark.parametrize(
    ("purpose", "group"),
    [
        ("agent t1", "agent work"),
        ("agent", "agent work"),
        ("agentic", "agentic"),
        ("mpo judge s3", "judging"),
        ("mpo refine", "rubric refinement"),
        ("answer:dev", "prompt answers"),
        ("pe2", "PE2"),
        ("", "unlabelled"),
    ],
)
def test_purposes_are_grouped_by_what_the_calls_were_for(purpose: str, group: str) -> None:
    assert purpose_group(purpose) == group


def test_the_cost_command_and_status_show_the_same_figures(campaign: Path, report: dict) -> None:
    as_json, text, status, status_text = run_commands(
        [("cost", campaign, "--json"), ("cost", campaign, "--top", "2"), ("status", campaign, "--json"),
         ("status", campaign)]
    )  # fmt: skip

    assert as_json.returncode == text.returncode == status.returncode == status_text.returncode == 0, text.stderr
    assert json.loads(as_json.stdout) == json.loads(json.dumps(report))
    assert json.loads(status.stdout)["cost"]["improvements"] == json.loads(json.dumps(report["improvements"]))
    shown, status_shown = " ".join(text.stdout.split()), " ".join(status_text.stdout.split())  # lines wrap
    assert "58.9% of 23,100 prompt tokens read from a cache" in shown
    assert "2 over n0001 (+50.0 points): $0.6750 each, $0.0270 per point" in shown
    assert "costliest nodes (2 of 4)" in shown
    assert "58.9% of 23,100" in status_shown and "$0.6750 each" in status_shown


def test_the_improvements_export(campaign: Path, tmp_path: Path) -> None:
    out = tmp_path / "improvements.jsonl"
    with Archive.open(campaign, readonly=True) as archive:
        assert write_table(archive, TABLES["improvements"], "jsonl", out) == 3
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["node"] for row in rows] == ["n0001", "n0002", "n0004"]
    assert json.loads(rows[-1]["path"]) == ["n0001", "n0002", "n0004"] and rows[0]["gain"] is None


def test_a_migrated_archive_reports_no_cache_use(tmp_path: Path) -> None:
    with tarfile.open(Path(__file__).parents[1] / "fixtures" / "archives" / "v4-campaign.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    with Archive.open(tmp_path / "campaign") as archive:  # migrates
        old = cost_report(archive)
    assert old["total"]["cache_read_tokens"] == 0 and old["total"]["cache_hit_rate"] == 0
    assert [step["node"] for step in old["improvements"]] == ["n0001", "n0002"]  # DGM's rule: complete stages
    assert old["by_purpose"]["agent work"]["calls"] == 10  # 3 per node, and the interrupted one
