"""Datasets: seeded generators give correct labels and fixed, disjoint splits; JSONL honours given splits."""

from __future__ import annotations

import json
import re

import pytest

from opendgm.prompts.data import load_jsonl
from opendgm.prompts.generators import GENERATORS, generate


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_same_dataset_and_splits_are_disjoint(name):
    first, again, other = generate(name, (5, 5, 10), 1), generate(name, (5, 5, 10), 1), generate(name, (5, 5, 10), 2)
    assert first == again
    assert first.train != other.train
    assert (len(first.train), len(first.dev), len(first.test)) == (5, 5, 10)
    inputs = [e.input for split in ("train", "dev", "test") for e in first.split(split)]
    assert len(set(inputs)) == 20
    assert first.version != generate(name, (5, 5, 11), 1).version


@pytest.mark.parametrize("base", [8, 9, 11, 16])
def test_base_addition_labels_are_sums_in_that_base(base):
    for example in generate(f"base{base}", (10, 10, 10)).test:
        a, b = example.input.split("+")
        assert int(example.target, base) == int(a, base) + int(b, base)


def test_arithmetic_labels_follow_the_story():
    for example in generate("arithmetic", (10, 10, 30)).test:
        total = int(re.match(r"\w+ has (\d+)", example.input).group(1))
        total += sum(int(n) for n in re.findall(r"buys (\d+)", example.input))
        total -= sum(int(n) for n in re.findall(r"gives away (\d+)", example.input))
        assert example.target == str(total) and total >= 0


def test_string_tasks():
    assert all(e.target == e.input[1] for e in generate("second_letter").dev)
    assert all(e.target == e.input[::-1] for e in generate("reverse").dev)
    assert all(e.target == ", ".join(sorted(e.input.split(", "))) for e in generate("sort_words").dev)


def test_too_many_examples_for_a_small_input_space_fail_loudly():
    with pytest.raises(ValueError, match="distinct inputs"):
        generate("second_letter", (100, 100, 100))
    with pytest.raises(ValueError, match="unknown built-in"):
        generate("nope")


def test_jsonl_with_splits_keeps_them(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [{"input": f"q{i}", "target": str(i), "split": s} for i, s in enumerate(["test", "train", "dev", "test"])]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = load_jsonl(path)
    assert [e.input for e in data.train] == ["q1"]
    assert [e.input for e in data.dev] == ["q2"]
    assert [e.input for e in data.test] == ["q0", "q3"]
    assert data.version.startswith("jsonl:")


def test_jsonl_without_splits_needs_sizes_and_cuts_a_seeded_shuffle(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"input": f"q{i}", "target": str(i)}) for i in range(10)))
    with pytest.raises(ValueError, match="split sizes"):
        load_jsonl(path)
    data = load_jsonl(path, (3, 3, 4), seed=5)
    assert data == load_jsonl(path, (3, 3, 4), seed=5)
    assert sorted(e.input for s in ("train", "dev", "test") for e in data.split(s)) == sorted(
        f"q{i}" for i in range(10)
    )
    assert data.train != load_jsonl(path, (3, 3, 4), seed=6).train
