"""A tidy tree layout in linear time, shared by the dashboard and the PNG tree picture.

Leaves take consecutive columns in depth-first order and a parent sits midway between its first and
last child, so subtrees never overlap and 10^4 nodes lay out in milliseconds (no graphviz needed).
"""

from __future__ import annotations

from collections.abc import Iterable


def tidy_layout(rows: Iterable[tuple[str, str | None]]) -> dict[str, tuple[float, int]]:
    """(x, depth) of each node from (id, parent_id) pairs; unknown parents make a node a root."""
    order = list(rows)
    known = {node for node, _ in order}
    children: dict[str | None, list[str]] = {None: []}
    for node, parent in order:
        children.setdefault(node, [])
        children[parent if parent in known else None].append(node)
    depth: dict[str, int] = {}
    preorder: list[str] = []
    stack = [(root, 0) for root in reversed(children[None])]
    while stack:
        node, level = stack.pop()
        depth[node] = level
        preorder.append(node)
        stack.extend((child, level + 1) for child in reversed(children[node]))
    x: dict[str, float] = {}
    column = 0
    for node in preorder:
        if not children[node]:
            x[node], column = float(column), column + 1
    for node in reversed(preorder):
        if children[node]:
            x[node] = (x[children[node][0]] + x[children[node][-1]]) / 2
    return {node: (x[node], depth[node]) for node in preorder}
