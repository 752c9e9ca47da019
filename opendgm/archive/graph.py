"""The archive as a networkx graph, and the tree questions selectors ask of it.

Nodes carry `kind`, `status`, `status_reason`, `operator`, `score` (latest stage), `stage`, `n_tasks`,
`n_done`, `n_resolved`, `passes`, `fails` and `depth`. Parent links are edges parent -> child with
`kind="parent"`; typed edges keep their own kind (if one coincides with a parent edge, the parent edge
lists it in `also`). The helpers below look at parent edges only.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from opendgm.archive.models import Edge, NodeSummary


def build_graph(summaries: Iterable[NodeSummary], edges: Iterable[Edge]) -> nx.DiGraph:
    graph: nx.DiGraph[str] = nx.DiGraph()
    rows = list(summaries)
    for row in rows:
        graph.add_node(
            row.id,
            kind=row.kind,
            status=row.status,
            status_reason=row.status_reason,
            operator=row.operator,
            score=row.score,
            stage=row.stage,
            n_tasks=row.n_tasks,
            n_done=row.n_done,
            n_resolved=row.n_resolved,
            passes=row.passes,
            fails=row.fails,
        )
    graph.add_edges_from((row.parent_id, row.id, {"kind": "parent"}) for row in rows if row.parent_id)
    for edge in edges:
        if graph.has_edge(edge.src, edge.dst):
            graph.edges[edge.src, edge.dst].setdefault("also", []).append(edge.kind)
        else:
            graph.add_edge(edge.src, edge.dst, kind=edge.kind)
    nx.set_node_attributes(graph, depths(graph), "depth")
    return graph


def tree(graph: nx.DiGraph) -> nx.DiGraph:
    """A read-only view with the parent edges only."""
    return nx.subgraph_view(graph, filter_edge=lambda u, v: graph.edges[u, v]["kind"] == "parent")


def roots(graph: nx.DiGraph) -> list[str]:
    parents = tree(graph)
    return [node for node in graph if parents.in_degree(node) == 0]


def depths(graph: nx.DiGraph) -> dict[str, int]:
    """Distance from each node to its root (roots are 0)."""
    parents = tree(graph)
    depth: dict[str, int] = {}
    for node in nx.topological_sort(parents):
        depth[node] = next((depth[parent] + 1 for parent in parents.predecessors(node)), 0)
    return depth


def descendants(graph: nx.DiGraph, node: str) -> set[str]:
    return nx.descendants(tree(graph), node)


def children_counts(graph: nx.DiGraph) -> dict[str, int]:
    parents = tree(graph)
    return {node: parents.out_degree(node) for node in graph}


def clade_counts(graph: nx.DiGraph) -> dict[str, tuple[int, int]]:
    """(passes, fails) summed over each node and all its descendants, for every node in one pass:
    the Beta(1 + passes, 1 + fails) of HGM's clade-metaproductivity Thompson sampling. Nodes sharing
    a code hash each count the shared results, as HGM counts each node's evaluations."""
    parents = tree(graph)
    totals = {node: (graph.nodes[node]["passes"], graph.nodes[node]["fails"]) for node in graph}
    for node in reversed(list(nx.topological_sort(parents))):
        passes, fails = totals[node]
        for parent in parents.predecessors(node):
            parent_passes, parent_fails = totals[parent]
            totals[parent] = (parent_passes + passes, parent_fails + fails)
    return totals
