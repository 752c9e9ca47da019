"""A standalone prompt campaign: PE2 search over `prompt` nodes of one archive, select on dev, report test.

Archive layout (one writer, like agent campaigns):
- the PE2 meta-prompt is a `meta_prompt` node (meta role "pe2"); every child has a `produced_by` edge to it,
  so meta-prompt evolution can later credit meta-prompts with their children's gains;
- each prompt is a `prompt` node whose parent is the prompt it was rewritten from (operator "seed" or "pe2";
  meta: step, the hard-negative example ids shown, the proposer's reasoning);
- scores are ordinary stages "train", "dev", "test" of evaluator `prompt:<dataset>` whose version names the
  dataset version, scorer version, placement and task model, so scores compare only like with like; one
  result per example, `detail` holding the model's output (the hard negatives are rebuilt from it).
Results are keyed by the prompt text's hash, so a rerun or a duplicate prompt costs no model calls.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

from opendgm.archive import Archive
from opendgm.llm import BudgetExceeded, LLMError, MalformedResponse, Router
from opendgm.prompts import pe2
from opendgm.prompts.config import PromptCampaignConfig
from opendgm.prompts.data import Split
from opendgm.prompts.scoring import ExactMatch
from opendgm.prompts.target import Attempt, Complete, accuracy, attempt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    """The dev-selected winner and the best seed, each with its test accuracy (never used to select)."""

    best: pe2.Candidate
    best_test: float
    seed: pe2.Candidate
    seed_test: float
    n_prompts: int


class PromptCampaign:
    """Runs PE2 on a dataset with a task model, writing every prompt and score into `archive`."""

    def __init__(self, config: PromptCampaignConfig, archive: Archive, router: Router) -> None:
        self.config, self.archive, self.router = config, archive, router
        self.dataset = config.dataset.load()
        self.scorer = ExactMatch()
        self.settings = config.pe2.settings()
        self.rng = random.Random(config.seed)
        self.evaluator = f"prompt:{self.dataset.name}"
        target_model = config.llm.roles[config.target_role].model
        scorer = f"{self.scorer.name}-{self.scorer.version}"
        self.version = f"{self.dataset.version};{scorer};{config.placement};{target_model}"

    def run(self) -> Report:
        meta_id = self._meta_prompt()
        pool = self._resume() or [self._seed(text) for text in self.config.seed_prompts]
        for step in range(max(c.step for c in pool) + 1, self.settings.steps + 1):
            for parent in pe2.select_beam(pool, self.settings.beam):
                pool += self._children(parent, step, meta_id, pool)
        best = pe2.select_beam(pool, 1)[0]
        seed = pe2.select_beam([c for c in pool if c.step == 0], 1)[0]
        report = Report(best, self._score(best.id, "test"), seed, self._score(seed.id, "test"), len(pool))
        self.archive.log_event("prompt_campaign_done", best.id, {"dev": best.dev, "test": report.best_test})
        return report

    # ------------------------------------------------------------------------------ archive nodes

    def _meta_prompt(self) -> str:
        existing = [n for n in self.archive.nodes(kind="meta_prompt") if n.meta.get("role") == "pe2"]
        if existing:
            return existing[-1].id
        return self.archive.add_node("meta_prompt", pe2.default_meta_prompt(), operator="seed", meta={"role": "pe2"}).id

    def _seed(self, text: str) -> pe2.Candidate:
        node = self.archive.add_node("prompt", text, operator="seed", meta={"step": 0})
        return self._admit(node.id, text, 0)

    def _resume(self) -> list[pe2.Candidate]:
        """Prompts of an interrupted run: evaluated ones rejoin the pool, half-made ones are failed."""
        pool = []
        for node in self.archive.nodes(kind="prompt"):
            if node.status == "evaluated":
                pool.append(pe2.Candidate(node.id, str(node.content), self._score(node.id, "dev"), node.meta["step"]))
            elif node.status not in ("failed", "rejected"):
                self.archive.set_status(node.id, "failed", "interrupted before its dev score")
        return pool

    def _admit(self, node_id: str, text: str, step: int) -> pe2.Candidate:
        self.archive.set_status(node_id, "evaluating")
        dev = self._score(node_id, "dev")
        self.archive.set_status(node_id, "evaluated")
        return pe2.Candidate(node_id, text, dev, step)

    def _children(
        self, parent: pe2.Candidate, step: int, meta_id: str, pool: Sequence[pe2.Candidate]
    ) -> list[pe2.Candidate]:
        train = self._attempts(parent.id, "train")
        lineage = self._lineage(parent.id, pool)
        meta_prompt = str(self.archive.node(meta_id).content)
        children = []
        for _ in range(self.settings.children):
            batch = pe2.hard_negatives(train, self.settings.batch_size, self.rng)
            if not batch:  # nothing fails on train: PE2 has no signal to edit from
                break
            meta = {"step": step, "batch": [a.example.id for a in batch], "meta_prompt": meta_id}
            child = self.archive.propose("prompt", parent.id, operator="pe2", meta=meta)
            self.archive.add_edge(child.id, meta_id, "produced_by")
            try:
                proposal = pe2.propose(
                    self._model(self.config.proposer_role, child.id, "pe2"),
                    meta_prompt,
                    parent.text,
                    batch,
                    self.config.placement,
                    self.settings,
                    lineage,
                )
            except BudgetExceeded:
                self.archive.set_status(child.id, "failed", "budget exhausted")
                raise
            except LLMError as exc:
                self.archive.set_status(child.id, "failed", f"proposer: {exc}")
                continue
            if not proposal.text:
                self.archive.set_status(child.id, "rejected", "the proposer returned no prompt")
                continue
            self.archive.update_meta(child.id, {"reasoning": proposal.reasoning})
            self.archive.attach_content(child.id, proposal.text)
            children.append(self._admit(child.id, proposal.text, step))
        return children

    def _lineage(self, node_id: str, pool: Sequence[pe2.Candidate]) -> list[pe2.Candidate]:
        known = {c.id: c for c in pool}
        return [known[n.id] for n in self.archive.lineage(node_id) if n.id in known]

    # ---------------------------------------------------------------------------------- scoring

    def _score(self, node_id: str, split: Split) -> float:
        return accuracy(self._attempts(node_id, split))

    def _attempts(self, node_id: str, split: Split) -> list[Attempt]:
        """Grade the prompt on a split, reusing every result already in the archive."""
        examples = self.dataset.split(split)
        self.archive.record_stage(node_id, self.evaluator, self.version, split, [e.id for e in examples])
        prompt = str(self.archive.node(node_id).content)
        complete = self._model(self.config.target_role, node_id, f"answer:{split}")
        attempts = []
        for example in examples:
            cached = self.archive.cached_result(node_id, self.evaluator, self.version, example.id)
            if cached is None:
                try:
                    done = attempt(complete, self.scorer, prompt, example, self.config.placement)
                    status = "resolved" if done.correct else "unresolved"
                except MalformedResponse as exc:  # an empty answer is a wrong answer, not a crash
                    done, status = Attempt(example, "", False), "agent_error"
                    log.info("task model gave no answer on %s: %s", example.id, exc)
                cached = self.archive.record_result(
                    node_id, self.evaluator, self.version, example.id, status=status, detail=done.output
                )
            attempts.append(Attempt(example, cached.detail or "", cached.resolved))
        return attempts

    def _model(self, role: str, node_id: str, purpose: str) -> Complete:
        def complete(messages: list[dict[str, str]], temperature: float) -> str:
            return self.router.complete(role, messages, node=node_id, purpose=purpose, temperature=temperature).text

        return complete
