"""Meta-prompt fitness: how much the children a meta-prompt produced improved on their parents.

A child that names its meta-prompt with a `produced_by` edge earns that meta-prompt a credit: the
child's accuracy minus its parent's, on the deepest stage both were measured on, or on the `dev` split
of prompt campaigns (same evaluator, same version, same stage name, so only like is compared with
like). A rejected child is an unusable product and counts as accuracy 0 on the parent's first stage; a
child that is still in flight, or failed for infrastructure reasons, earns nothing yet. This is
PromptBreeder's and ShinkaEvolve's idea of scoring a prompt by what it makes, measured as improvement
rather than level, so a meta-prompt is not rewarded for being used on strong parents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opendgm.archive.archive import Archive
from opendgm.archive.models import Node, Score

StageKey = tuple[str, str, str]  # evaluator, evaluator version, stage
# Prompt campaigns select on their "dev" split and report "test": credit is measured where selection is,
# never on test. Agent stages are ordered by depth, so for them the deepest shared stage is compared.
SELECTION_STAGE = "dev"


@dataclass(frozen=True)
class Credit:
    """One child's contribution to its meta-prompt's fitness (`gain` None: not judged yet)."""

    child: str
    parent: str | None
    gain: float | None


@dataclass(frozen=True)
class Fitness:
    """A meta-prompt's record: every child it produced and the mean gain of those judged."""

    node: str
    credits: tuple[Credit, ...]

    @property
    def uses(self) -> int:
        return len(self.credits)

    @property
    def gains(self) -> list[float]:
        return [c.gain for c in self.credits if c.gain is not None]

    @property
    def mean_gain(self) -> float | None:
        gains = self.gains
        return sum(gains) / len(gains) if gains else None

    @property
    def improved(self) -> int:
        return sum(1 for gain in self.gains if gain > 0)

    def summary(self) -> str:
        """One line for `opendgm show` and `opendgm tree`."""
        if self.mean_gain is None:
            return f"fitness: not judged yet ({self.uses} children produced)"
        return (
            f"fitness {self.mean_gain:+.3f}: mean gain over {len(self.gains)} judged children "
            f"({self.improved} improved on their parent; {self.uses} produced)"
        )


def accuracies(scores: Sequence[Score]) -> dict[StageKey, float]:
    """Accuracy per stage over the tasks done so far (HGM's pool stage is sampled, never complete)."""
    return {(s.evaluator, s.evaluator_version, s.stage): s.n_resolved / s.n_done for s in scores if s.n_done > 0}


def gain(child: Node, child_scores: Sequence[Score], parent_scores: Sequence[Score]) -> float | None:
    """The child's improvement over its parent, or None while it cannot be judged."""
    parent = accuracies(parent_scores)
    if not parent:
        return None
    if child.status == "rejected":
        return 0.0 - next(iter(parent.values()))
    if child.status != "evaluated":
        return None
    child_accuracies = accuracies(child_scores)
    shared = [key for key in child_accuracies if key in parent]
    if not shared:
        return None
    selection = [key for key in shared if key[2] == SELECTION_STAGE]
    compared = selection[-1] if selection else shared[-1]
    return child_accuracies[compared] - parent[compared]


def _fitness_of(
    meta_prompt: str, produced: Sequence[str], nodes: Mapping[str, Node], scores: Mapping[str, list[Score]]
) -> Fitness:
    credits = []
    for child_id in produced:
        child = nodes[child_id]
        parent_scores = scores.get(child.parent_id, []) if child.parent_id else []
        credits.append(Credit(child_id, child.parent_id, gain(child, scores.get(child_id, []), parent_scores)))
    return Fitness(meta_prompt, tuple(credits))


def fitness_of(archive: Archive, node_id: str) -> Fitness | None:
    """One node's fitness (None when no child names it), reading only its children and their parents:
    what a single view or a single hyper-mutation needs, instead of the whole archive."""
    with archive.snapshot():
        produced = [e.src for e in archive.edges(node_id) if e.kind == "produced_by" and e.dst == node_id]
        if not produced:
            return None
        nodes = {child: archive.node(child) for child in produced}
        parents = {node.parent_id for node in nodes.values() if node.parent_id}
        scores = {member: archive.scores(member) for member in [*nodes, *parents]}
    return _fitness_of(node_id, produced, nodes, scores)


def fitness(archive: Archive, scores: Mapping[str, list[Score]] | None = None) -> dict[str, Fitness]:
    """The fitness of every node that some child names with `produced_by` (meta-prompts, rubrics); `scores`
    are `archive.scores_by_node()` when the caller has them already (in the same snapshot)."""
    with archive.snapshot():
        produced: dict[str, list[str]] = {}
        for edge in archive.edges():
            if edge.kind == "produced_by":
                produced.setdefault(edge.dst, []).append(edge.src)
        if not produced:  # no meta-prompt has children: nothing else to read
            return {}
        nodes = {node.id: node for node in archive.nodes()}
        scores = archive.scores_by_node() if scores is None else scores
    return {meta: _fitness_of(meta, children, nodes, scores) for meta, children in produced.items()}
