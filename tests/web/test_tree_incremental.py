"""The dashboard's kept tree, updated from what changed, equals a tree made afresh byte for byte: the layout extended
node by node (random and deep trees), and the endpoint's JSON after random changes to a live archive (real SQLite)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from opendgm.archive import TRANSITIONS, Archive, EvaluatorKey, ResultRecord
from opendgm.llm.ledger import CallRecord
from opendgm.web import views
from opendgm.web.layout import TidyLayout, tidy_layout


def random_shape(rng: random.Random, nodes: int) -> list[tuple[str, str | None]]:
    """Nodes in creation order: roots, long chains (x then needs more bits than a float has), random attachment,
    and parents no node carries (such a node is a root)."""
    shape: list[tuple[str, str | None]] = []
    for index in range(nodes):
        draw = rng.random()
        if shape and (index < 120 or 0.06 < draw < 0.3):
            parent = shape[-1][0]  # a spine first, then the newest line deepens
        elif not shape or draw < 0.03:
            parent = None
        elif draw < 0.06:
            parent = f"gone{index}"
        else:
            parent = rng.choice(shape)[0]
        shape.append((f"n{index}", parent))
    return shape


@pytest.mark.parametrize("seed", range(8))
def test_a_layout_extended_node_by_node_equals_one_made_afresh(seed: int) -> None:
    rng = random.Random(seed)
    shape = random_shape(rng, 400)
    cut = rng.randrange(1, 40)
    layout = TidyLayout(shape[:cut])
    before = [layout.place(position) for position in range(cut)]
    for count, (node, parent) in enumerate(shape[cut:], cut + 1):
        moved = layout.add(node, parent)
        if moved is None:  # deeper than the scale allows: made afresh, as the dashboard does
            layout = TidyLayout(shape[:count])
        fresh = tidy_layout(shape[:count])
        assert {layout.ids[p]: layout.place(p) for p in range(count)} == fresh, (seed, count)
        now = [fresh[layout.ids[position]] for position in range(count)]
        assert moved is None or set(moved) == {p for p in range(count) if p == count - 1 or before[p] != now[p]}
        before = now
    assert max(depth for _, depth in fresh.values()) > 60  # x needed more bits than a float's 53


@pytest.mark.parametrize("with_x", [True, False])
def test_the_kept_tree_equals_a_fresh_one_after_random_changes(tmp_path: Path, with_x: bool) -> None:
    """Random new nodes (agents, text nodes, under any node or as roots), results, status changes, edges and model
    calls, a few at a time; after each batch the endpoint's bytes equal `views.tree` serialised afresh (with the
    server's x, and without it as the browser asks)."""
    rng = random.Random(7)
    cache = views.TreeCache(with_x)
    with Archive.create(tmp_path / "c", "kept-tree") as writer:
        nodes = [writer.add_node("prompt", "seed prompt", operator="seed").id]
        for step in range(60):
            for _ in range(rng.randrange(1, 4)):
                change(writer, nodes, rng, step)
            with Archive.open(tmp_path / "c", readonly=True, check_code=False) as reader:
                fresh = views.tree(reader, with_x)
                expected = json.dumps(fresh, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
                assert cache.tree_json(reader) == expected.encode(), step
                assert cache.tree_json(reader) == expected.encode()  # the kept answer


def change(writer: Archive, nodes: list[str], rng: random.Random, step: int) -> None:
    draw = rng.random()
    node = rng.choice(nodes)
    if draw < 0.35:
        parent = None if rng.random() < 0.05 else rng.choice([node, nodes[-1]])
        if writer.node(parent).kind == "agent" if parent else rng.random() < 0.5:  # a parent is of the same kind
            nodes.append(writer.propose("agent", parent, operator="self_improve").id)
        else:
            nodes.append(writer.add_node("prompt", f"prompt {len(nodes)}", parent, operator="pe2").id)
    elif draw < 0.65:
        if writer.node(node).code_hash is not None:
            status = rng.choice(["resolved", "unresolved"])
            writer.record_result(ResultRecord(node, EvaluatorKey("e", "1"), f"t{rng.randrange(30)}", status=status))
    elif draw < 0.8:
        allowed = sorted(TRANSITIONS[writer.node(node).status] - {"built", "modifying"})
        if allowed and writer.node(node).code_hash is not None:
            writer.set_status(node, rng.choice(allowed), reason=f"step {step}")
    elif draw < 0.9:
        writer.add_edge(node, rng.choice(nodes), "produced_by")
    else:
        record = CallRecord(writer.campaign, node, "agent", "t", "m", "ok", rng.randrange(9), 3, rng.random())
        writer.ledger.record(record)
