"""Meta-prompt evolution: the prompts that drive the operators form a population, one per role.

Roles are the texts an operator fills in: `diagnosis` (DGM's failure diagnosis), `self_improve` (the
instruction the parent gets to rewrite itself), `pe2` (PE2's meta-prompt, for prompt slots and task
prompts), and the prompt-campaign operators' `ape`, `ape_paraphrase` and `opro`. Each child names the
meta-prompts that made it with `produced_by` edges, so a meta-prompt's fitness is its children's
improvement over their parents (`opendgm.archive.credit`).

- `Chooser` picks a role's meta-prompt with UCB1 on that fitness: untried members first, then the best
  mean gain plus an exploration bonus that shrinks with use.
- Hyper-mutation (PromptBreeder) asks the meta model to rewrite a meta-prompt; the rewrite must keep
  every `$placeholder` the operator fills in (and PE2's step separator), or it is rejected.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from string import Template

from opendgm.archive import Archive, Fitness, Node, credit
from opendgm.prompts import ape, opro, pe2
from opendgm.prompts.target import Complete
from opendgm.prompts.template import missing_placeholders


@dataclass(frozen=True)
class Role:
    """What a meta-prompt of this role is for, its shipped text, and what a rewrite must keep."""

    purpose: str
    seed_text: Callable[[], str]
    required: tuple[str, ...] = ()


DGM_ANSWER = ('"implementation_suggestion"', '"problem_description"')  # what the child is told
# DGM's special entries (`opendgm.evolve.entries`), each diagnosed by a meta-prompt role of its own.
SPECIAL_ENTRIES = ("empty_patches", "stochasticity", "context_length")


def prompt_text(name: str) -> str:
    """A shipped meta-prompt's text (`prompts/meta/NAME`)."""
    return (resources.files("opendgm.prompts") / "meta" / name).read_text(encoding="utf-8")


def entry_role(kind: str) -> str:
    """The diagnosis meta-prompt role of an entry kind (`diagnosis` for one failed task)."""
    return "diagnosis" if kind == "task" else f"diagnosis_{kind}"


ROLES: dict[str, Role] = {
    "diagnosis": Role(
        "It asks a model to study a coding agent's code and one failed task, find the agent's weakness, and "
        "answer with JSON holding a `problem_statement` for improving the agent.",
        lambda: prompt_text("diagnose.md"),
        ('"problem_statement"', *DGM_ANSWER),
    ),
    **{
        entry_role(kind): Role(
            f"It asks a model to study a coding agent's code and example tasks showing one of its habits ({kind}), "
            "and to answer with JSON whose `implementation_suggestion` and `problem_description` tell the agent "
            "how to improve itself.",
            partial(prompt_text, f"diagnose_{kind}.md"),
            DGM_ANSWER,
        )
        for kind in SPECIAL_ENTRIES
    },
    "self_improve": Role(
        "It is given to a coding agent working on its own source code, together with a problem statement, "
        "so that the agent improves itself.",
        lambda: prompt_text("self_improve.md"),
    ),
    "pe2": Role(
        "It asks a model to analyse examples a prompt failed on (step 1), then to write a better prompt "
        f"(step 2, after the line `{pe2.STEP_SEPARATOR}`).",
        pe2.default_meta_prompt,
        (pe2.STEP_SEPARATOR,),
    ),
    "ape": Role(
        "It shows a model input/output pairs of a task and asks for the instruction that produced them.",
        ape.default_meta_prompt,
    ),
    "ape_paraphrase": Role(
        "It asks a model for a variation of a good task instruction that asks for exactly the same thing.",
        ape.default_paraphrase_prompt,
    ),
    "opro": Role(
        "It shows a model earlier task instructions with their scores, worst to best, and asks for a new "
        "instruction that scores higher.",
        opro.default_meta_prompt,
    ),
}
# The meta-prompts each agent-campaign operator fills in, and all of them in a fixed order.
OPERATOR_ROLES: dict[str, tuple[str, ...]] = {"self_improve": ("diagnosis", "self_improve"), "pe2": ("pe2",)}
AGENT_ROLES = tuple(dict.fromkeys(role for roles in OPERATOR_ROLES.values() for role in roles))
# The special entries' diagnosis roles: seeded into the archive when first drawn (so archives that never draw one
# keep their numbering), then chosen and evolved like the operators' roles.
ENTRY_ROLES = tuple(entry_role(kind) for kind in SPECIAL_ENTRIES)
# Every role an operator may use, per operator (what hyper-mutation may rewrite, once the role has members).
EVOLVABLE_ROLES = {**OPERATOR_ROLES, "self_improve": (*OPERATOR_ROLES["self_improve"], *ENTRY_ROLES)}
HYPER_MUTATION_PROMPT = "hyper_mutation.md"
REWRITE_TAG = "new-meta-prompt"
TEMPERATURE = 0.7  # a rewrite should differ from its parent, yet stay on task
MAX_GROWTH = 3


def ucb_choice(
    candidates: Sequence[str], uses: Mapping[str, int], means: Mapping[str, float | None], exploration: float,
    rng: random.Random,
) -> str:  # fmt: skip
    """UCB1: an untried candidate (the oldest) first; else the highest mean gain plus
    `exploration * sqrt(ln(total uses) / uses)`; ties broken by `rng`."""
    untried = [c for c in candidates if uses.get(c, 0) == 0]
    if untried:
        return untried[0]
    total = sum(uses[c] for c in candidates)

    def value(candidate: str) -> float:
        bonus = exploration * math.sqrt(math.log(total) / uses[candidate])
        return (means.get(candidate) or 0.0) + bonus

    values = {c: value(c) for c in candidates}
    top = max(values.values())
    return rng.choice([c for c in candidates if math.isclose(values[c], top, abs_tol=1e-12)])


@dataclass
class Chooser:
    """UCB1 over each role's usable meta-prompts, counting this round's choices as uses at once so
    children proposed together spread over untried meta-prompts."""

    members: Mapping[str, Sequence[str]]  # role -> usable meta-prompt ids, oldest first
    records: Mapping[str, Fitness]
    exploration: float
    rng: random.Random
    pending: dict[str, int] = field(default_factory=dict)

    def choose(self, role: str) -> str:
        candidates = self.members[role]
        uses = {c: (self.records[c].uses if c in self.records else 0) + self.pending.get(c, 0) for c in candidates}
        means = {c: self.records[c].mean_gain if c in self.records else None for c in candidates}
        chosen = ucb_choice(candidates, uses, means, self.exploration, self.rng)
        self.pending[chosen] = self.pending.get(chosen, 0) + 1
        return chosen


def chooser(archive: Archive, exploration: float, rng: random.Random) -> Chooser:
    """A Chooser over the archive's usable meta-prompts and their current fitness."""
    return Chooser(usable(archive), credit.fitness(archive), exploration, rng)


def text_for(archive: Archive, node: Node, role: str) -> str:
    """The text of the meta-prompt chosen for `node` in `role` (the role's first one for children
    proposed before meta-prompts were chosen per child)."""
    chosen = node.meta.get("meta_prompts", {}).get(role) or usable(archive)[role][0]
    return str(archive.node(chosen).content)


def usable(archive: Archive) -> dict[str, list[str]]:
    """Each role's meta-prompts that have text and were not rejected, oldest first."""
    members: dict[str, list[str]] = {role: [] for role in ROLES}
    for node in archive.nodes(kind="meta_prompt"):
        role = node.meta.get("role")
        if role in members and node.status in ("built", "evaluated"):
            members[role].append(node.id)
    return members


def ensure_seeds(archive: Archive, roles: Iterable[str]) -> None:
    """The shipped meta-prompt of each role, added once per archive."""
    present = {role for role, ids in usable(archive).items() if ids}
    for role in roles:
        if role not in present:
            archive.add_node("meta_prompt", ROLES[role].seed_text(), operator="seed", meta={"role": role})


def hyper_mutation_prompt(role: str, text: str, record: Fitness | None) -> str:
    """The request to rewrite a meta-prompt, with its purpose, its record and what must be kept."""
    names = Template(text).get_identifiers()
    keep = [f"${name}" for name in names] + list(ROLES[role].required)
    return Template(prompt_text(HYPER_MUTATION_PROMPT)).safe_substitute(
        purpose=ROLES[role].purpose,
        record=record.summary() if record else "It has not been used yet.",
        keep=", ".join(keep) or "(nothing in particular)",
        meta_prompt=text,
    )


def hyper_mutate(complete: Complete, role: str, text: str, record: Fitness | None) -> tuple[str, str | None]:
    """PromptBreeder's hyper-mutation of one meta-prompt: the rewrite, and why it cannot be used (None
    when it can)."""
    answer = complete([{"role": "user", "content": hyper_mutation_prompt(role, text, record)}], TEMPERATURE)
    rewrite = parse_rewrite(answer)
    return rewrite, rewrite_problem(role, text, rewrite)


def parse_rewrite(answer: str) -> str:
    """The rewritten meta-prompt: the text between the first opening and the last closing `REWRITE_TAG`
    (meta-prompts contain tags of their own), or the whole answer when the model used none."""
    start = answer.find(f"<{REWRITE_TAG}>")
    body = answer[start + len(REWRITE_TAG) + 2 :] if start >= 0 else answer
    end = body.rfind(f"</{REWRITE_TAG}>")
    return (body[:end] if end >= 0 else body).strip()


def rewrite_problem(role: str, original: str, rewrite: str) -> str | None:
    """Why a rewrite cannot replace `original` (None when it can)."""
    if not rewrite.strip():
        return "the hyper-mutation returned no text"
    if rewrite.strip() == original.strip():
        return "the hyper-mutation returned the meta-prompt unchanged"
    if len(rewrite.split()) > MAX_GROWTH * len(original.split()) + 50:
        return f"the rewrite is more than {MAX_GROWTH} times as long as the original (every later prompt would pay)"
    lost = missing_placeholders(original, rewrite)
    if lost:
        return "the rewrite dropped placeholders the operator fills in: " + ", ".join(f"${n}" for n in lost)
    absent = [marker for marker in ROLES[role].required if marker in original and marker not in rewrite]
    if absent:
        return "the rewrite lost required text: " + ", ".join(absent)
    return None
