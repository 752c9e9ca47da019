"""MPO's loop in the archive: a judge scores responses against the current `rubric` node, and every
`interval` scorings the meta-reward model (MRM) rewrites the rubric from a random sample of what it judged.

Archive layout (one writer):
- each rubric is a `rubric` node (MPO's `<item>` list); the seed has operator "seed", every rewrite is a
  child of the rubric it refines (operator "mpo"; meta: interval, the sampled ids, the MRM's analyses and
  per-sample rubrics, how they were merged). It is proposed before the MRM runs, so the MRM's calls are
  charged to it; with no criteria, or the parent's criteria again, it ends `rejected` (a model error:
  `failed`) and the judge keeps the current rubric. Life of an adopted rubric: built -> evaluating (the
  judge uses it) -> evaluated (an interval was measured under it).
- every judged sample is a line of the artifact `mpo/<seed rubric>/interval-NNNN.jsonl` naming the rubric
  it was scored under; each interval's aggregate is an `mpo_interval` event on that rubric (proxy = mean
  judge score 0..10, gold = mean held-out verdict 0..1, n, unscored, artifact);
- a judged response that is an archive node (`Sample.node_id`) gets an edge node -> rubric `scored_under`;
- the reward-hacking alarm (`mpo.hacking_alarm` over the interval series: proxy/10 against gold) is an event
  `reward_hacking_alarm` and the rubric's meta `hacking_alarm`.
Judge calls are charged to the rubric they applied. A restarted training loop continues the lineage with
`RubricLoop.resume`, which reads all of this back.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from statistics import fmean
from typing import Any, Literal

from opendgm.archive import Archive
from opendgm.llm import MalformedResponse
from opendgm.prompts import mpo
from opendgm.prompts.charged import call_for
from opendgm.prompts.target import Complete

log = logging.getLogger(__name__)

# (node to charge the calls to, purpose) -> a model; `target.completer` bound to a router and a role.
ModelFor = Callable[[str, str], Complete]


def _tolerant(complete: Complete) -> Complete:
    """An empty or unreadable answer (the Router's MalformedResponse) read as an empty text: for the judge an
    unscored sample, for the MRM junk to reject, never a crash of the loop."""

    def call(messages: list[dict[str, str]], temperature: float) -> str:
        try:
            return complete(messages, temperature)
        except MalformedResponse as exc:
            log.info("no usable answer, read as empty: %s", exc)
            return ""

    return call


def seed_rubric(archive: Archive, text: str, meta: Mapping[str, Any] | None = None) -> str:
    """The root of a rubric lineage (operator "seed"); returns its id."""
    return archive.add_node("rubric", text, operator="seed", meta=meta).id


@dataclass(frozen=True)
class Settings:
    """MPO's knobs. Defaults are MPOConfig's (interval 10, 20 samples); the released PPO script used 20/16.

    `refine`: "interval" is MPO (rewrite after every interval); "alarm" rewrites only when the hacking alarm
    fires; "never" keeps the seed rubric (the control arm that shows the hacking)."""

    interval: int = 10
    samples: int = 20
    refine: Literal["interval", "alarm", "never"] = "interval"
    task: str = ""  # what the policy is meant to do, shown to the MRM
    window: int = 3  # intervals per side of the hacking alarm's comparison
    min_gain: float = 0.05  # proxy rise (fraction of the 0..10 scale) that counts as a rise
    seed: int = 0

    def __post_init__(self) -> None:
        if self.interval < 1 or self.samples < 1 or self.window < 1:
            raise ValueError("interval, samples and window must be at least 1")


@dataclass(frozen=True)
class Interval:
    """One interval's aggregate, all measured under one rubric; proxy/gold are None with nothing to average."""

    index: int
    rubric: str
    proxy: float | None
    gold: float | None
    n: int
    unscored: int


class RubricLoop:
    """Judges batches of responses for a policy's training loop and evolves the rubric as MPO does.

    Call `score(samples)` once per policy update and use the scores as rewards (None: unscored). After
    every `interval` calls the interval is aggregated, the hacking alarm checked, and, per
    `settings.refine`, the rubric refined; in "alarm" mode a firing alarm triggers that refinement at once.
    """

    def __init__(
        self, archive: Archive, rubric_id: str, judge: ModelFor, mrm: ModelFor, settings: Settings | None = None
    ) -> None:
        self.archive, self.judge, self.mrm = archive, judge, mrm
        self.settings = settings or Settings()
        self.rng = random.Random(self.settings.seed)
        self.root = rubric_id
        self.history: list[Interval] = []
        self._window: list[mpo.Judged] = []
        self._steps = 0
        self._adopt(rubric_id)

    @classmethod
    def open(
        cls,
        archive: Archive,
        seed_text: str,
        judge: ModelFor,
        mrm: ModelFor,
        settings: Settings | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> RubricLoop:
        """The archive's rubric lineage (one per archive): resumed when it has a seed rubric, otherwise
        seeded with `seed_text`."""
        seeds = [n.id for n in archive.nodes(kind="rubric") if n.operator == "seed"]
        if seeds:
            return cls.resume(archive, seeds[0], judge, mrm, settings)
        return cls(archive, seed_rubric(archive, seed_text, meta), judge, mrm, settings)

    @classmethod
    def resume(
        cls, archive: Archive, seed_id: str, judge: ModelFor, mrm: ModelFor, settings: Settings | None = None
    ) -> RubricLoop:
        """The loop of the rubric lineage rooted at `seed_id`, as a killed run left it: the newest adopted
        rubric judges, the interval history comes back from the `mpo_interval` events, and a refinement
        that was cut short is failed. Samples judged in an interval that never closed are not replayed."""
        lineage = [seed_id, *(n.id for n in archive.nodes(kind="rubric") if _descends(archive, n.id, seed_id))]
        for node_id in lineage:
            if archive.node(node_id).status == "proposed":
                archive.set_status(node_id, "failed", "interrupted before the MRM finished")
        adopted = [n for n in lineage if archive.node(n).status in ("evaluating", "evaluated")]
        loop = cls(archive, adopted[-1] if adopted else seed_id, judge, mrm, settings)
        loop.root = seed_id
        loop.history = [
            Interval(**{field.name: e.data[field.name] for field in fields(Interval)})
            for e in archive.events()
            if e.kind == "mpo_interval" and e.node_id in lineage
        ]
        loop.rng = random.Random(f"{loop.settings.seed}:{len(loop.history)}")  # no replay of earlier draws
        return loop

    def score(self, samples: Sequence[mpo.Sample], *, count: bool = True) -> list[mpo.Judged]:
        """Judge each sample under the current rubric; closes the interval on its `interval`-th counted call.

        `count=False` re-judges outputs already measured under an older rubric (to compare like with like
        after a refinement): recorded by the caller, but no policy step, so no interval moves."""
        judged = self.judge_all(samples)
        if count:
            self._window += judged
            self._steps += 1
            if self._steps == self.settings.interval:
                window, self._window, self._steps = self._window, [], 0
                self.close_interval(window)
        return judged

    def judge_all(self, samples: Sequence[mpo.Sample]) -> list[mpo.Judged]:
        """Judge each sample under the current rubric, with no interval bookkeeping (for callers that keep
        their own policy steps: an agent campaign's generations). The rubric is read once and each judged
        node gets its `scored_under` edge once per call. Safe to call from several threads."""
        rubric_id = self.rubric_id
        rubric = str(self.archive.node(rubric_id).content)
        judged = [mpo.judge(self._judge(rubric_id, sample.id), rubric, sample) for sample in samples]
        for node_id in dict.fromkeys(s.node_id for s in samples if s.node_id):
            self.archive.add_edge(node_id, rubric_id, "scored_under")
        return judged

    def judge_one(self, sample: mpo.Sample) -> mpo.Judged:
        """`judge_all` of one sample: the shape an evaluator's judge takes."""
        return self.judge_all([sample])[0]

    def close_interval(self, window: Sequence[mpo.Judged]) -> str | None:
        """End an interval of `window` judged samples: record it, check the hacking alarm and, per
        `settings.refine`, refine the rubric. Returns the newly adopted rubric's id, or None."""
        self.history.append(self._record(window))
        fired = self._alarm()
        if self.settings.refine == "interval" or (self.settings.refine == "alarm" and fired):
            return self.refine(window)
        return None

    def refine(self, judged: Sequence[mpo.Judged]) -> str | None:
        """MPO's refinement from a seeded random sample of `judged`; an unscored pair stays eligible, since a
        rubric the judge could not apply is the MRM's business too. Returns the adopted child rubric's id,
        or None when the rubric stays."""
        if not judged:
            return None
        batch = self.rng.sample(list(judged), min(self.settings.samples, len(judged)))
        meta = {"interval": len(self.history), "samples": [j.sample.id for j in batch]}
        child = self.archive.propose("rubric", self.rubric_id, operator="mpo", meta=meta).id
        parent = str(self.archive.node(self.rubric_id).content)
        mrm = _tolerant(self.mrm(child, "mpo refine"))
        proposal = call_for(self.archive, child, "MRM", lambda: mpo.propose(mrm, self.settings.task, parent, batch))
        if proposal is None:
            return None
        refinements = [asdict(r) for r in proposal.refinements]
        self.archive.update_meta(child, {"refinements": refinements, "merged_by": proposal.merged_by})
        problem = _flaw(proposal.text, parent)
        if problem:
            self.archive.set_status(child, "rejected", problem)
            return None
        self.archive.attach_content(child, proposal.text)
        self._adopt(child)
        return child

    # ------------------------------------------------------------------------------------ internals

    def _judge(self, rubric_id: str, sample_id: str) -> Complete:
        return _tolerant(self.judge(rubric_id, f"mpo judge {sample_id}"))

    def _adopt(self, rubric_id: str) -> None:
        self.archive.set_status(rubric_id, "evaluating")
        self.rubric_id = rubric_id

    def _record(self, window: Sequence[mpo.Judged]) -> Interval:
        """Write the interval's judged samples and its aggregate, both naming the rubric they were under."""
        index = len(self.history) + 1
        scores = [j.score for j in window if j.score is not None]
        golds = [j.sample.gold for j in window if j.sample.gold is not None]
        interval = Interval(
            index=index,
            rubric=self.rubric_id,
            proxy=fmean(scores) if scores else None,
            gold=fmean(golds) if golds else None,
            n=len(window),
            unscored=len(window) - len(scores),
        )
        lines = [json.dumps(_line(j, self.rubric_id, index)) for j in window]
        path = self.archive.artifacts.put(f"mpo/{self.root}/interval-{index:04d}.jsonl", "\n".join(lines) + "\n")
        self.archive.log_event("mpo_interval", self.rubric_id, asdict(interval) | {"artifact": path})
        self.archive.set_status(self.rubric_id, "evaluated")
        return interval

    def _alarm(self) -> bool:
        """Feed the interval series (proxy scaled to 0..1, gold) to the alarm; record it when it fires."""
        paired = [(i.proxy / 10, i.gold) for i in self.history if i.proxy is not None and i.gold is not None]
        alarm = mpo.hacking_alarm(
            [p for p, _ in paired], [g for _, g in paired], self.settings.window, self.settings.min_gain
        )
        if alarm.fired:
            data = {
                "rubric": self.rubric_id,
                "interval": len(self.history),
                "proxy_gain": alarm.proxy_gain,
                "gold_gain": alarm.gold_gain,
            }
            self.archive.log_event("reward_hacking_alarm", self.rubric_id, data)
            self.archive.update_meta(self.rubric_id, {"hacking_alarm": data})
        return alarm.fired


def _descends(archive: Archive, node_id: str, ancestor: str) -> bool:
    return node_id != ancestor and any(n.id == ancestor for n in archive.lineage(node_id))


def _flaw(text: str, parent: str) -> str | None:
    """Why a merged rubric cannot replace its parent, or None when it can."""
    if not text:
        return "the MRM wrote no <item> criteria"
    if mpo.criteria(text) == mpo.criteria(parent):
        return "the merged rubric repeats its parent"
    return None


def _line(judged: mpo.Judged, rubric_id: str, interval: int) -> dict[str, Any]:
    """One judged sample as an artifact line; an unscored one says so instead of counting as 0."""
    note = None if judged.score is not None else "the judge's answer held no `SCORE: N`"
    sample = asdict(judged.sample)
    return sample | {
        "rubric": rubric_id,
        "interval": interval,
        "score": judged.score,
        "verdict": judged.verdict,
        "note": note,
    }
