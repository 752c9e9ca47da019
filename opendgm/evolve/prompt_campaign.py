"""A standalone prompt campaign: PE2, APE or OPRO search over `prompt` nodes of one archive, select on dev,
report test.

Archive layout (one writer, like agent campaigns):
- each operator's meta-prompts are `meta_prompt` nodes (meta role = the operator: "pe2", "ape",
  "ape_paraphrase", "opro"), seeded once per archive from the shipped file; every child has a
  `produced_by` edge to the one it used, chosen by UCB1 on their fitness (the dev gain of their children
  over their parents); with `meta_prompts.hyper_mutation`, a rewrite (operator "hyper_mutation", meta
  role and step) is made before every step after the first;
- each prompt is a `prompt` node whose parent is the prompt it came from: the rewritten prompt (PE2), the
  first seed (APE induction), the varied prompt (APE paraphrase), the best prompt shown (OPRO). Its meta
  holds the step and what the proposer was shown: hard-negative ids and reasoning (PE2), demo ids (APE),
  shown prompt and exemplar ids (APE paraphrase, OPRO);
- scores are ordinary stages "train", "dev", "test" of evaluator `prompt:<dataset>` whose version names the
  dataset version, scorer version, placement and task model, so scores compare only like with like; one
  result per example, `detail` holding the model's output (the hard negatives are rebuilt from it).
The proposer sees train only (errors, demos, exemplars, train scores); selection uses dev; test only
reaches the report. Results are keyed by the prompt text's hash, so a rerun or a duplicate prompt costs no
model calls; APE and OPRO reject a proposal that repeats a prompt of the pool before scoring it.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from opendgm.archive import Archive, EvaluatorKey, Node, ResultRecord, credit
from opendgm.llm import MalformedResponse, Router
from opendgm.outcomes import Verdict
from opendgm.prompts import (
    Attempt,
    Complete,
    ExactMatch,
    JudgedDev,
    PromptCampaignConfig,
    RubricLoop,
    Split,
    accuracy,
    ape,
    attempt,
    call_for,
    completer,
    meta_prompts,
    opro,
    pe2,
)
from opendgm.session import start_router

log = logging.getLogger(__name__)

# Makes one proposal with the proposer and a meta-prompt's text: PE2 returns its reasoning too, APE and
# OPRO just the text.
Ask = Callable[[Complete, str], str | pe2.Proposal]


@dataclass(frozen=True)
class Report:
    """The dev-selected winner and the best seed, each with its test accuracy (never used to select)."""

    best: pe2.Candidate
    best_test: float
    seed: pe2.Candidate
    seed_test: float
    n_prompts: int


class PromptCampaign:
    """Runs the configured operator on a dataset with a task model, writing every prompt and score into
    `archive`."""

    def __init__(
        self,
        config: PromptCampaignConfig,
        archive: Archive,
        router: Router,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        """`on_change`: called whenever the archive changed (a live view refreshes there)."""
        self.config, self.archive, self.router, self.on_change = config, archive, router, on_change
        self.dataset = config.dataset.load()
        self.scorer = ExactMatch()
        self.pe2, self.ape, self.opro = config.pe2.settings(), config.ape.settings(), config.opro.settings()
        self.rng = random.Random(config.seed)
        self._chooser = self._new_chooser()
        target_model = config.llm.roles[config.target_role].model
        scorer = f"{self.scorer.name}-{self.scorer.version}"
        version = f"{self.dataset.version};{scorer};{config.placement};{target_model}"
        self.key = EvaluatorKey(f"prompt:{self.dataset.name}", version)  # what its scores compare under
        self.judged = self._judged_dev()  # with `judge:`, dev is the judge's verdict (exact match: gold)
        self._made: Counter[tuple[str, str]] = Counter()  # this step's `_spawn` calls per (parent, operator)

    def run(self) -> Report:
        steps, search = {
            "pe2": (self.pe2.steps, self._pe2_step),
            "ape": (1 + self.ape.paraphrase_steps, self._ape_step),
            "opro": (self.opro.steps, self._opro_step),
        }[self.config.operator]
        pool = self._resume() or [self._seed(text) for text in self.config.seed_prompts]
        for step in range(self._first_step(pool), steps + 1):  # a resumed run goes on at its unfinished step
            self._made = Counter()
            held = [c for c in pool if c.step >= step]  # made by this step before a stop: the step sees the pool
            pool[:] = [c for c in pool if c.step < step]  # it started from, and finds them again in `_spawn`
            self._chooser = self._new_chooser()
            if self.config.meta_prompts.hyper_mutation and step > 1:
                self._hyper_mutate(self._role(step), step)
            self._refresh(pool)
            search(step, pool)
            pool.extend(c for c in held if c.id not in {p.id for p in pool})
        self._refresh(pool)
        best = pe2.select_beam(pool, 1)[0]
        seed = pe2.select_beam([c for c in pool if c.step == 0], 1)[0]
        report = Report(best, self._score(best.id, "test"), seed, self._score(seed.id, "test"), len(pool))
        self.archive.log_event("prompt_campaign_done", best.id, {"dev": best.dev, "test": report.best_test})
        return report

    def _role(self, step: int) -> str:
        """The meta-prompt role the operator's step `step` fills in."""
        if self.config.operator == "ape":
            return "ape" if step == 1 else "ape_paraphrase"
        return self.config.operator

    # --------------------------------------------------------------------------------- operators

    def _pe2_step(self, step: int, pool: list[pe2.Candidate]) -> None:
        """Children of each beam member (the best on dev of all prompts so far), edited from train errors."""
        for parent in pe2.select_beam(pool, self.pe2.beam):
            train = self._attempts(parent.id, "train")
            lineage = self._lineage(parent.id, pool)
            for _ in range(self.pe2.children):
                batch = pe2.hard_negatives(train, self.pe2.batch_size, self.rng)
                if not batch:  # nothing fails on train: PE2 has no signal to edit from
                    break
                ask = partial(
                    pe2.propose,
                    prompt=parent.text,
                    batch=batch,
                    placement=self.config.placement,
                    settings=self.pe2,
                    lineage=lineage,
                )
                meta = {"step": step, "batch": [a.example.id for a in batch]}
                self._spawn(pool, parent.id, "pe2", meta, ask, unique=False)

    def _ape_step(self, step: int, pool: list[pe2.Candidate]) -> None:
        """Step 1 induces instructions from train demos; later steps vary the best (iterative APE)."""
        (self._induce if step == 1 else self._paraphrase)(step, pool)

    def _induce(self, step: int, pool: list[pe2.Candidate]) -> None:
        """One instruction per demo set; all hang under the first seed, so the archive stays one tree."""
        root = next(c for c in pool if c.step == 0)
        for demos in ape.demo_sets(self.dataset.train, self.ape, self.config.seed):
            ask = partial(ape.induce, demos=demos, max_words=self.ape.max_words)
            meta = {"step": step, "demos": [e.id for e in demos]}
            self._spawn(pool, root.id, "ape", meta, ask, unique=True)

    def _paraphrase(self, step: int, pool: list[pe2.Candidate]) -> None:
        """`candidates` variations, spread evenly over the `keep` best on dev; each hangs under its original."""
        best = pe2.select_beam(pool, self.ape.keep)
        for i in range(self.ape.candidates):
            parent = best[i % len(best)]
            ask = partial(ape.paraphrase, instruction=parent.text, max_words=self.ape.max_words)
            meta = {"step": step, "shown": [parent.id]}
            self._spawn(pool, parent.id, "ape_paraphrase", meta, ask, unique=True)

    def _opro_step(self, step: int, pool: list[pe2.Candidate]) -> None:
        """`per_step` proposals from one meta-prompt: the best earlier prompts by train score, and train
        exemplars; each child's parent is the best prompt it was shown."""
        scored = [opro.Scored(c, self._score(c.id, "train")) for c in pool]
        history = opro.top_k(scored, self.opro.top_k)
        train = self.dataset.train
        exemplars = random.Random(f"opro:{self.config.seed}:{step}").sample(train, min(self.opro.exemplars, len(train)))
        ask = partial(
            opro.propose,
            history=history,
            exemplars=exemplars,
            placement=self.config.placement,
            max_words=self.opro.max_words,
        )
        meta = {"step": step, "shown": [c.prompt.id for c in history], "exemplars": [e.id for e in exemplars]}
        for _ in range(self.opro.per_step):
            self._spawn(pool, history[-1].prompt.id, "opro", meta, ask, unique=True)

    # ------------------------------------------------------------------------------ archive nodes

    def _meta_prompt(self, role: str) -> Node:
        """The meta-prompt this child uses for `role`: UCB1 over the role's population by fitness (the
        shipped text seeds it the first time the role is needed)."""
        if not self._chooser.members.get(role):
            meta_prompts.ensure_seeds(self.archive, [role])
            self._chooser = self._new_chooser()
        return self.archive.node(self._chooser.choose(role))

    def _new_chooser(self) -> meta_prompts.Chooser:
        return meta_prompts.chooser(self.archive, self.config.meta_prompts.exploration, self.rng)

    def _hyper_mutate(self, role: str, step: int) -> None:
        """PromptBreeder's hyper-mutation before a step: the proposer rewrites a meta-prompt of the step's
        role; an accepted rewrite joins the population untried, so the step's first child uses it."""
        done = [n for n in self.archive.nodes(kind="meta_prompt") if n.meta.get("step") == step]
        if done and done[-1].status != "proposed":  # made before a restart
            return
        if done:  # its rewrite never came back (an infrastructure stop): asked again
            parent, child = self.archive.node(str(done[-1].parent_id)), done[-1].id
        else:
            parent = self._meta_prompt(role)
            meta = {"role": role, "step": step}
            child = self.archive.propose("meta_prompt", parent.id, operator="hyper_mutation", meta=meta).id
        complete = completer(self.router, self.config.proposer_role, child, "hyper_mutation")
        fitness = credit.fitness_of(self.archive, parent.id)
        rewrite_it = partial(meta_prompts.hyper_mutate, complete, role, str(parent.content), fitness)
        outcome = call_for(self.archive, child, "proposer", rewrite_it)
        if outcome is None:
            return
        rewrite, problem = outcome
        if problem:
            self.archive.set_status(child, "rejected", problem)
            return
        self.archive.attach_content(child, rewrite)
        self._chooser = self._new_chooser()

    def _seed(self, text: str) -> pe2.Candidate:
        node = self.archive.add_node("prompt", text, operator="seed", meta={"step": 0})
        return self._admit(node.id, text, 0)

    def _resume(self) -> list[pe2.Candidate]:
        """Prompts of an interrupted run: evaluated ones rejoin the pool, ones with a text are scored now. A stop
        is no verdict (issue 13): a proposal whose answer never came back stays `proposed` and its step asks again
        (`_first_step`, `_spawn`), as does a hyper-mutation (`_hyper_mutate`)."""
        pool = []
        for node in self.archive.nodes(kind="prompt"):
            if node.status == "evaluated":
                pool.append(pe2.Candidate(node.id, str(node.content), self._dev(node.id, False), node.meta["step"]))
            elif node.status not in ("failed", "rejected") and node.content is not None:
                pool.append(self._admit(node.id, str(node.content), node.meta["step"]))
        return pool

    def _first_step(self, pool: list[pe2.Candidate]) -> int:
        """The step after the last one in the pool, or an earlier one with a proposal still unanswered."""
        unanswered = [n.meta["step"] for n in self.archive.nodes(kind="prompt", status="proposed") if n.content is None]
        return min([max(c.step for c in pool) + 1, *unanswered])

    def _made_before(self, parent_id: str, operator: str, step: int) -> Node | None:
        """On a step run again after a stop, the child this call made the first time (the n-th call for a parent
        and operator made its n-th child), or None for a call the first run did not reach."""
        made = [n for n in self.archive.nodes(kind="prompt") if n.parent_id == parent_id and n.operator == operator
                and n.meta.get("step") == step]  # fmt: skip
        self._made[parent_id, operator] += 1
        return made[self._made[parent_id, operator] - 1] if len(made) >= self._made[parent_id, operator] else None

    def _admit(self, node_id: str, text: str, step: int) -> pe2.Candidate:
        self.archive.set_status(node_id, "evaluating")
        dev = self._dev(node_id)
        self.archive.set_status(node_id, "evaluated")
        self.on_change()
        return pe2.Candidate(node_id, text, dev, step)

    def _spawn(
        self,
        pool: list[pe2.Candidate],
        parent_id: str,
        operator: str,
        meta: dict[str, Any],
        ask: Ask,
        *,
        unique: bool,
    ) -> None:
        """One child of `parent_id` (meta: its `step` and what the proposer is shown), added to `pool` once
        it has a dev score. The node exists before the proposer is called, so the calls are charged to it.
        With `unique`, a text already in the pool is rejected before any task-model call."""
        before = self._made_before(parent_id, operator, meta["step"])
        if before is not None and (before.status != "proposed" or before.content is not None):
            return  # done before a stop: in the pool (held by `run`) or judged
        if before is not None:  # its answer never came back: asked again with the same meta-prompt
            child, meta_prompt = before, self.archive.node(str(before.meta["meta_prompt"]))
            self.archive.update_meta(child.id, meta)
        else:
            meta_prompt = self._meta_prompt(operator)  # each operator's name is its meta-prompt role
            meta = meta | {"meta_prompt": meta_prompt.id}
            child = self.archive.propose("prompt", parent_id, operator=operator, meta=meta)
            self.archive.add_edge(child.id, meta_prompt.id, "produced_by")
        self.on_change()
        proposer = completer(self.router, self.config.proposer_role, child.id, operator)
        answer = call_for(  # an empty answer is a bad proposal, not an outage
            self.archive,
            child.id,
            "proposer",
            lambda: ask(proposer, str(meta_prompt.content)),
            empty_rejects="the proposer returned no prompt",
        )
        if answer is None:
            return
        if isinstance(answer, pe2.Proposal):
            self.archive.update_meta(child.id, {"reasoning": answer.reasoning})
            answer = answer.text
        if not answer:
            self.archive.set_status(child.id, "rejected", "the proposer returned no prompt")
            return
        self.archive.attach_content(child.id, answer)
        twin = next((c for c in pool if opro.key(c.text) == opro.key(answer)), None) if unique else None
        if twin is not None:
            self.archive.set_status(child.id, "rejected", f"the same prompt as {twin.id}")
            return
        pool.append(self._admit(child.id, answer, meta["step"]))

    def _lineage(self, node_id: str, pool: Sequence[pe2.Candidate]) -> list[pe2.Candidate]:
        known = {c.id: c for c in pool}
        return [known[n.id] for n in self.archive.lineage(node_id) if n.id in known]

    # ---------------------------------------------------------------------------------- scoring

    def _dev(self, node_id: str, count: bool = True) -> float:
        """The selection score: exact match on dev, or, with a judge, the judge's verdicts on the same
        outputs under the current rubric (`count=False`: a re-judging that moves no MPO interval)."""
        attempts = self._attempts(node_id, "dev")
        if self.judged is None:
            return accuracy(attempts)
        prompt = str(self.archive.node(node_id).content)
        return self.judged.score(node_id, prompt, attempts, self.config.placement, count=count)

    def _refresh(self, pool: list[pe2.Candidate]) -> None:
        """Under a judge, every prompt's dev score under the current rubric, so selection compares like
        with like after a refinement (judge calls only; no-op while the rubric is unchanged)."""
        if self.judged is not None:
            pool[:] = [replace(c, dev=self._dev(c.id, False)) for c in pool]

    def _judged_dev(self) -> JudgedDev | None:
        """The judge and its rubric loop, continuing the archive's rubric lineage when there is one."""
        options = self.config.judge
        if options is None:
            return None
        judge, mrm = partial(completer, self.router, options.role), partial(completer, self.router, options.mrm_role)
        settings = options.settings(self.config.seed)
        loop = RubricLoop.open(self.archive, options.rubric, judge, mrm, settings)
        return JudgedDev(self.archive, loop, self.dataset.name, self.key.version, options.threshold)

    def _score(self, node_id: str, split: Split) -> float:
        return accuracy(self._attempts(node_id, split))

    def _attempts(self, node_id: str, split: Split) -> list[Attempt]:
        """Grade the prompt on a split, reusing every result already in the archive."""
        examples = self.dataset.split(split)
        self.archive.record_stage(node_id, *self.key, split, [e.id for e in examples])
        prompt = str(self.archive.node(node_id).content)
        complete = completer(self.router, self.config.target_role, node_id, f"answer:{split}")
        attempts = []
        for example in examples:
            cached = self.archive.cached_result(node_id, *self.key, example.id)
            if cached is None:
                try:
                    done = attempt(complete, self.scorer, prompt, example, self.config.placement)
                    status: Verdict = "resolved" if done.correct else "unresolved"
                except MalformedResponse as exc:  # an empty answer is a wrong answer, not a crash
                    done, status = Attempt(example, "", False), "agent_error"
                    log.info("task model gave no answer on %s: %s", example.id, exc)
                cached = self.archive.record_result(
                    ResultRecord(node_id, self.key, example.id, status, detail=done.output)
                )
            attempts.append(Attempt(example, cached.detail or "", cached.resolved))
        return attempts


def run_in(config: PromptCampaignConfig, root: Path, watch: Callable[[Archive], Callable[[], None]]) -> Report:
    """The prompt campaign of `config` in the directory `root` (started, or resumed where it stopped), its models
    served meanwhile; `watch(archive)` gives the callback told of each change."""
    with Archive.open_or_create(root, config.name) as archive, ExitStack() as stack:
        router = start_router(archive, config.llm, config.local_server, stack)
        return PromptCampaign(config, archive, router, watch(archive)).run()
