"""A running campaign's HGM selection reads the clade sums the summaries cache keeps (no scan of the tree after its
first draw) and draws exactly what the scan would (seeded): in async mode (HGM's readiness view) and in
generations under DGM's scoring options (the rewritten view). The real scheduler, on the simulated landscape."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opendgm.archive import summaries
from opendgm.evolve import campaign, selectors
from opendgm.evolve.config import CampaignConfig
from opendgm.evolve.simulate import policy_config, simulate_one
from tests.evolve.test_simulate import CONFIG


class Spy:
    """Wraps the HGM draw: counts the tree scans each selection made and checks its draw against the scan's."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.scans = 0
        self.per_selection: list[int] = []
        scan = summaries.clade_sums

        def counted(rows: Any) -> Any:
            self.scans += 1
            return scan(rows)

        monkeypatch.setattr(summaries, "clade_sums", counted)

    def wrap(self, draw: Callable[..., list[str]]) -> Callable[..., list[str]]:
        def spied(rows: Any, k: int, rng: random.Random, sharpen: float = 1.0) -> list[str]:
            twin = random.Random()
            twin.setstate(rng.getstate())
            before = self.scans
            chosen = draw(rows, k, rng, sharpen)
            self.per_selection.append(self.scans - before)
            assert chosen == draw(list(rows), k, twin, sharpen), "the kept sums drew otherwise than a scan"
            return chosen

        return spied


def test_async_hgm_selection_reads_the_kept_clade_sums(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spy = Spy(monkeypatch)
    monkeypatch.setattr(campaign, "hgm_select", spy.wrap(selectors.hgm))
    config = policy_config(CampaignConfig.model_validate(CONFIG), "hgm", 3, None)
    simulate_one(config, tmp_path / "c")
    assert len(spy.per_selection) >= 5
    assert sum(spy.per_selection) == 1, spy.per_selection  # the kept sums made once; no draw among none needs them


@pytest.mark.parametrize("scoring", [{}, {"score": "cumulative", "children": "kept"}])
def test_generations_hgm_selection_reads_the_kept_clade_sums(
    scoring: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spy = Spy(monkeypatch)
    monkeypatch.setitem(selectors.SELECTORS, "hgm", spy.wrap(selectors.hgm))
    data = policy_config(CampaignConfig.model_validate(CONFIG), "score_child_prop", 3, None).model_dump()
    data.update(selector="hgm", scoring=scoring, children_per_generation=2)
    simulate_one(CampaignConfig.model_validate(data), tmp_path / "c")
    assert len(spy.per_selection) >= 3
    assert sum(spy.per_selection) == 1, spy.per_selection
