"""Prompt-task datasets: labelled examples in fixed train/dev/test splits.

Splits are part of the data, not of the search: the optimiser sees train errors, selects on dev, and
only the final report touches test (PE2's protocol), so a split must never change between runs.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Split = Literal["train", "dev", "test"]
SPLITS: tuple[Split, ...] = ("train", "dev", "test")


@dataclass(frozen=True)
class Example:
    """One labelled input; `id` is stable across runs so archive results can be keyed by it."""

    id: str
    input: str
    target: str


@dataclass(frozen=True)
class Dataset:
    """A named dataset; `version` changes whenever its content could (generator version, seed, sizes)."""

    name: str
    version: str
    train: tuple[Example, ...]
    dev: tuple[Example, ...]
    test: tuple[Example, ...]

    def split(self, split: Split) -> tuple[Example, ...]:
        return {"train": self.train, "dev": self.dev, "test": self.test}[split]


def split_examples(
    name: str, version: str, examples: list[Example], sizes: tuple[int, int, int], seed: int | None = None
) -> Dataset:
    """Cut `examples` into train/dev/test of `sizes` (shuffled first when `seed` is given)."""
    if len(examples) < sum(sizes):
        raise ValueError(f"{name}: {len(examples)} examples, but the splits need {sum(sizes)}")
    if len({e.id for e in examples}) != len(examples):
        raise ValueError(f"{name}: example ids must be distinct")
    pool = list(examples)
    if seed is not None:
        random.Random(seed).shuffle(pool)
    n_train, n_dev, n_test = sizes
    return Dataset(
        name,
        version,
        tuple(pool[:n_train]),
        tuple(pool[n_train : n_train + n_dev]),
        tuple(pool[n_train + n_dev : n_train + n_dev + n_test]),
    )


def load_jsonl(path: str | Path, sizes: tuple[int, int, int] | None = None, seed: int = 0) -> Dataset:
    """A JSONL file of {"input", "target", "id"?, "split"?} lines.

    With a `split` on every line those splits are used as given; otherwise `sizes` cuts a seeded shuffle.
    """
    path = Path(path)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    examples = [
        Example(str(r.get("id", f"{path.stem}-{i}")), str(r["input"]), str(r["target"])) for i, r in enumerate(rows)
    ]
    if all("split" in r for r in rows):
        unknown = {r["split"] for r in rows} - set(SPLITS)
        if unknown:
            raise ValueError(f"{path}: unknown splits {sorted(unknown)}; expected train, dev, test")
        by_split = {s: [e for e, r in zip(examples, rows, strict=True) if r["split"] == s] for s in SPLITS}
        ordered = by_split["train"] + by_split["dev"] + by_split["test"]
        counts = (len(by_split["train"]), len(by_split["dev"]), len(by_split["test"]))
        return split_examples(path.stem, f"jsonl:{_digest(path)}", ordered, counts)
    if sizes is None:
        raise ValueError(f"{path}: lines carry no 'split', so the campaign must give split sizes")
    return split_examples(path.stem, f"jsonl:{_digest(path)}:s{seed}", examples, sizes, seed)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
