"""A child's first durable record: which operator, which parent, which meta-prompts.

All of it is decided and committed before any model call, so the calls can be charged to the child and a
crash cannot change what was decided; meta-prompts are chosen per child by UCB1 (`meta_prompts.Chooser`)
and recorded as `produced_by` edges, so children still in flight already count as uses.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from opendgm.archive import Archive
from opendgm.evaluators import Evaluator
from opendgm.evolve.config import OperatorWeights
from opendgm.prompts import meta_prompts


def agent(
    archive: Archive,
    evaluator: Evaluator,
    operator: str,
    parent: str,
    chooser: meta_prompts.Chooser,
    meta: Mapping[str, object],
) -> str:
    """A proposed agent child of `parent` made by `operator`, with its meta-prompts and their edges.

    PE2 learns only from failures: a parent that failed no task gets DGM's step instead (an event says so)."""
    if operator == "pe2" and all(r.resolved for r in archive.results(parent, evaluator.name)):
        archive.log_event("operator_fallback", parent, {"from": "pe2", "to": "self_improve"})
        operator = "self_improve"
    chosen = {role: chooser.choose(role) for role in meta_prompts.OPERATOR_ROLES[operator]}
    with archive.transaction():  # the child and its edges, all or nothing
        child = archive.propose("agent", parent, operator=operator, meta={**meta, "meta_prompts": chosen})
        for meta_prompt in chosen.values():
            archive.add_edge(child.id, meta_prompt, "produced_by")
    return child.id


def meta_prompt(
    archive: Archive,
    operators: OperatorWeights,
    chooser: meta_prompts.Chooser,
    rng: random.Random,
    meta: Mapping[str, object],
) -> str:
    """A proposed hyper-mutation of a meta-prompt, of a role that an operator with weight uses."""
    members = meta_prompts.usable(archive)
    roles = [
        role
        for operator, roles in meta_prompts.EVOLVABLE_ROLES.items()
        if getattr(operators, operator) > 0
        for role in roles
        if members[role]  # a special entry's role joins once its first diagnosis seeded it
    ]
    role = rng.choice(roles)
    parent = chooser.choose(role)
    return archive.propose("meta_prompt", parent, operator="hyper_mutation", meta={**meta, "role": role}).id
