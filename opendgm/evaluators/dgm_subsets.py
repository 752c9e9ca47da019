"""DGM's staged-evaluation subsets (shipped as package data), so stage results compare with the paper's."""

from __future__ import annotations

import json
from importlib import resources

STAGES = {"swe_bench": ("small", "medium", "big"), "polyglot": ("small", "medium")}


def dgm_subsets(benchmark: str, available: set[str]) -> dict[str, list[str]]:
    """DGM's named subsets of `benchmark` (`swe_bench` or `polyglot`) whose every id is among `available`.

    A stage with ids this dataset lacks is left out rather than shrunk: a smaller `small` would not compare.
    """
    folder = resources.files("opendgm.evaluators") / "data" / "dgm_subsets" / benchmark
    named = {stage: json.loads((folder / f"{stage}.json").read_text()) for stage in STAGES[benchmark]}
    return {stage: ids for stage, ids in named.items() if set(ids) <= available}
