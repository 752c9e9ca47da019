"""MPO's pure pieces (Kim et al. 2025): the judge scoring a response against a rubric, the meta-reward
model's (MRM) per-sample meta-analysis and meta-refinement, meta-merging into one rubric without duplicate
criteria, and the reward-hacking alarm (the judge's proxy score rises while a held-out gold check stays
flat or falls).

Models are `Complete` callables and nothing here touches the archive, so every step can be tested with
scripted models; `rubrics.RubricLoop` is the one writer. MPO itself has no statistical detector; the alarm
is ours, so a rubric lineage that the policy learns to exploit is flagged instead of being selected for
its rising judge scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from string import Template

from opendgm.prompts.target import Complete

SCORE = re.compile(r"SCORE:\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?", re.IGNORECASE)
_ITEM = re.compile(r"<item>(.*?)</item>", re.DOTALL | re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")


def items(text: str) -> list[str]:
    """Only the `<item>`s of a model's answer: prose around them (or an answer with none) is no criterion."""
    return [" ".join(item.split()) for item in _ITEM.findall(text) if item.strip()]


def criteria(rubric: str) -> list[str]:
    """A rubric's criteria: its `<item>`s (MPO's format), else its non-empty lines without bullets."""
    lines = items(rubric) or [_BULLET.sub("", line) for line in rubric.splitlines()]
    return [" ".join(line.split()) for line in lines if line.strip()]


def merge(rubrics: Sequence[str]) -> str:
    """Meta-merging's mechanical part: all criteria in first-seen order, duplicates (ignoring case,
    spacing and final punctuation) kept once. Semantic overlap is the MRM's job, not this function's."""
    seen: dict[str, str] = {}
    for rubric in rubrics:
        for criterion in criteria(rubric):
            seen.setdefault(criterion.lower().rstrip(" ."), criterion)
    return "\n".join(f"<item>{c}</item>" for c in seen.values())


@dataclass(frozen=True)
class Alarm:
    fired: bool
    proxy_gain: float
    gold_gain: float


def hacking_alarm(proxy: Sequence[float], gold: Sequence[float], window: int = 3, min_gain: float = 0.05) -> Alarm:
    """Compare the last `window` points with the `window` before them, per series (rubric versions or
    training intervals, oldest first). Fires when the judge's mean rose by at least `min_gain` while the
    gold mean did not rise at all."""
    if len(proxy) != len(gold):
        raise ValueError("proxy and gold scores must be paired, one of each per point")
    if len(proxy) < 2 * window:
        return Alarm(False, 0.0, 0.0)

    def gain(series: Sequence[float]) -> float:
        recent, before = series[-window:], series[-2 * window : -window]
        return sum(recent) / window - sum(before) / window

    proxy_gain, gold_gain = gain(proxy), gain(gold)
    return Alarm(proxy_gain >= min_gain and gold_gain <= 0.0, proxy_gain, gold_gain)


# ------------------------------------------------------------------------------------- judge and MRM


@dataclass(frozen=True)
class Sample:
    """One response to judge. `gold` (0..1) is a held-out verdict the judge and the MRM never see: the
    yardstick of the hacking alarm. `node_id` names the archive node whose output this is, if any."""

    id: str
    query: str
    response: str
    reference: str = ""
    gold: float | None = None
    node_id: str | None = None


@dataclass(frozen=True)
class Judged:
    """A sample with the judge's score (None when its answer held no `SCORE: N`) and the judge's text."""

    sample: Sample
    score: float | None
    verdict: str


@dataclass(frozen=True)
class Refinement:
    """One sampled pair's meta-analysis and the rubric the MRM wrote from it (its `<item>`s only)."""

    sample_id: str
    analysis: str
    rubric: str


@dataclass(frozen=True)
class Proposal:
    """The merged rubric ("" when no criteria came out) and how: "mrm", or "mechanical" when the MRM's
    merge held no items and the per-sample rubrics were merged by `merge` alone."""

    text: str
    refinements: list[Refinement]
    merged_by: str


def _meta_prompt(name: str, **fields: str) -> str:
    """A shipped MPO meta-prompt (meta/mpo_<name>.md) with its `$fields` filled in."""
    template = files("opendgm.prompts").joinpath(f"meta/mpo_{name}.md").read_text()
    return Template(template).safe_substitute(fields).strip()


def _sample_fields(rubric: str, sample: Sample) -> dict[str, str]:
    reference = f"\n<reference>\n{sample.reference}\n</reference>\n" if sample.reference else ""
    return {"rubric": rubric, "query": sample.query, "reference": reference, "response": sample.response}


def judge_score(verdict: str) -> float | None:
    """The last `SCORE: N` in the judge's text, clamped to 0..10."""
    found = SCORE.findall(verdict)
    return min(max(float(found[-1]), 0.0), 10.0) if found else None


def judge(complete: Complete, rubric: str, sample: Sample) -> Judged:
    """Score one response against the rubric, greedily so a reward is reproducible."""
    prompt = _meta_prompt("judge", **_sample_fields(rubric, sample))
    verdict = complete([{"role": "user", "content": prompt}], 0.0)
    return Judged(sample, judge_score(verdict), verdict)


def refine_one(complete: Complete, task: str, rubric: str, judged: Judged) -> Refinement:
    """Meta-analysis of the junior judge's score (greedy), then meta-refinement in the same conversation
    (temperature 0.7, so rubrics written from different samples differ)."""
    score = "none (the junior grader's answer held no score)" if judged.score is None else f"{judged.score:g} / 10"
    first = _meta_prompt("analysis", task=task or "(not given)", score=score, **_sample_fields(rubric, judged.sample))
    messages = [{"role": "user", "content": first}]
    analysis = complete(messages, 0.0)
    messages += [{"role": "assistant", "content": analysis}, {"role": "user", "content": _meta_prompt("refine")}]
    written = items(complete(messages, 0.7))
    return Refinement(judged.sample.id, analysis, "\n".join(f"<item>{item}</item>" for item in written))


def merge_rubrics(complete: Complete, task: str, rubric: str, rubrics: Sequence[str]) -> tuple[str, str]:
    """Meta-merging: the MRM folds the per-sample rubrics into one, `merge` drops exact duplicates; when
    the MRM's answer holds no items, the mechanical merge alone. Returns (rubric, how)."""
    candidates = "\n\n".join(f'<candidate n="{n}">\n{text}\n</candidate>' for n, text in enumerate(rubrics, 1))
    prompt = _meta_prompt("merge", task=task or "(not given)", rubric=rubric, candidates=candidates)
    answer = complete([{"role": "user", "content": prompt}], 0.0)
    if items(answer):
        return merge([answer]), "mrm"
    return merge(rubrics), "mechanical"


def propose(complete: Complete, task: str, rubric: str, batch: Sequence[Judged]) -> Proposal:
    """MPO's refinement of `rubric` from a batch of judged samples: one refinement per sample, then one
    merge. Samples whose refinement wrote no items are left out of the merge."""
    refinements = [refine_one(complete, task, rubric, judged) for judged in batch]
    written = [r.rubric for r in refinements if r.rubric]
    if not written:
        return Proposal("", refinements, "")
    text, how = merge_rubrics(complete, task, rubric, written)
    return Proposal(text, refinements, how)
