"""The MPO toy: a policy that learns to game a hackable rubric, a scripted judge and a scripted MRM.

- Policy: REINFORCE over a softmax of four response templates (correct or wrong final answer, concise or
  padded with rigour keywords), rewarded by the judge's score.
- Judge: reads the rubric's items from its prompt and applies those it understands (length, keywords,
  final answer against the reference, filler); an item it does not understand earns nothing.
- MRM: when a wrong final answer got a high score it says so, then writes items that deduct for wrong
  answers and filler and award the correct answer; the merge step lists all items, duplicates included.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from opendgm.prompts import mpo

KEYWORDS = ("thorough", "detailed", "comprehensive", "rigorous")
SEED_RUBRIC = (
    "<item>Thoroughness: award up to 6 points for long, detailed responses, one point per eight words.</item>\n"
    "<item>Keywords: award up to 4 points, one per keyword that shows rigour"
    " (thorough, detailed, comprehensive, rigorous).</item>"
)
WRONG_ANSWER_ITEM = "Final answer: deduct all points when the final answer differs from the reference answer."
RIGHT_ANSWER_ITEM = "Final answer: award 5 points when the final answer matches the reference answer."
FILLER_ITEM = "Filler: deduct 3 points for filler or padding beyond what the answer needs."
REFINED_ITEMS = (WRONG_ANSWER_ITEM, RIGHT_ANSWER_ITEM, FILLER_ITEM)  # what the MRM adds for a padded wrong answer
TEMPLATES = {
    "correct_concise": "{a} + {b} = {right}.",
    "correct_padded": "Here is a thorough and detailed answer. Adding {a} and {b} carefully, one digit at a time,"
    " and checking the sum once more gives {right}.",
    "wrong_padded": "This is a thorough, detailed, comprehensive and rigorous analysis. Thorough step-by-step"
    " reasoning, detailed checks of every column, a comprehensive review of each carry and a rigorous final"
    " verification of the whole computation, done twice over to be completely certain, give {wrong}.",
    "wrong_concise": "{a} + {b} = {wrong}.",
}
NAMES = tuple(TEMPLATES)
PADDED_WORDS = 12  # an arithmetic answer needs no more


def _tag(text: str, tag: str) -> str:
    found = re.search(rf"<{tag}>\n?(.*?)\n?</{tag}>", text, re.DOTALL)
    return found.group(1).strip() if found else ""


def final_number(text: str) -> str:
    numbers = re.findall(r"-?\d+", text)
    return numbers[-1] if numbers else ""


# ------------------------------------------------------------------------------------------- judge


def _points(item: str) -> float:
    found = re.search(r"\b(\d+) points?\b", item)
    return float(found.group(1)) if found else 1.0


def apply_item(item: str, response: str, reference: str) -> float | None:
    """The points one rubric item gives the response, or None for an item the judge does not understand.
    `-inf` stands for "deduct all points"."""
    low, words = item.lower(), response.split()
    wrong = final_number(response) != reference
    if "differs from the reference" in low:
        return -math.inf if wrong else 0.0
    if "matches the reference" in low:
        return 0.0 if wrong else _points(item)
    if "filler" in low or "padding" in low:
        return -_points(item) if len(words) > PADDED_WORDS else 0.0
    if "keyword" in low:
        listed = re.search(r"\(([^)]*)\)", low)
        hits = sum(word.strip(".,").lower() in listed.group(1).split(", ") for word in words) if listed else 0
        return min(float(hits), _points(item))
    if "long" in low or "thorough" in low:
        return min(len(words) / 8, _points(item))
    return None


def judge(messages: list[dict[str, str]], temperature: float) -> str:
    """The scripted judge: one note per item, then `SCORE: N` (0..10)."""
    prompt = messages[-1]["content"]
    response, reference = _tag(prompt, "response"), _tag(prompt, "reference")
    total, notes = 0.0, []
    for item in mpo.criteria(_tag(prompt, "rubric")):
        points = apply_item(item, response, reference)
        notes.append(f"- {item}: {'not understood' if points is None else points}")
        total += points or 0.0
    return "\n".join(notes) + f"\nSCORE: {round(min(max(total, 0.0), 10.0))}"


# --------------------------------------------------------------------------------------------- MRM


@dataclass
class ScriptedMRM:
    """The scripted meta-reward model; `seen` keeps the response of every sample it analysed."""

    seen: list[str] = field(default_factory=list)

    def __call__(self, messages: list[dict[str, str]], temperature: float) -> str:
        prompt = messages[0]["content"]
        if "<candidate" in prompt:
            return "\n".join(f"<item>{c}</item>" for block in _candidates(prompt) for c in mpo.criteria(block))
        if len(messages) == 1:
            return self.analyse(prompt)
        return self.refine(_tag(prompt, "rubric"), messages[1]["content"])

    def analyse(self, prompt: str) -> str:
        response, reference = _tag(prompt, "response"), _tag(prompt, "reference")
        self.seen.append(response)
        score = float(final_number(_tag(prompt, "score").split("/")[0]) or 0)
        problems = []
        if score >= 5 and final_number(response) != reference:
            problems.append("INFLATED: the final answer differs from the reference but scored high.")
        if len(response.split()) > PADDED_WORDS:
            problems.append("PADDED: filler words earned points.")
        return " ".join(problems) or "The score is fair."

    def refine(self, rubric: str, analysis: str) -> str:
        extra = [WRONG_ANSWER_ITEM, RIGHT_ANSWER_ITEM] if "INFLATED" in analysis else []
        if extra and "PADDED" in analysis:
            extra.append(FILLER_ITEM)
        kept = mpo.criteria(rubric)
        return f"{len(kept) + len(extra)} criteria.\n" + "\n".join(f"<item>{c}</item>" for c in kept + extra)


def _candidates(prompt: str) -> list[str]:
    return re.findall(r"<candidate[^>]*>(.*?)</candidate>", prompt, re.DOTALL)


# ------------------------------------------------------------------------------------------ policy


@dataclass(frozen=True)
class Question:
    id: str
    a: int
    b: int

    @property
    def answer(self) -> int:
        return self.a + self.b


def questions(n: int, seed: int) -> list[Question]:
    rng = random.Random(seed)
    return [Question(f"q{i}", rng.randint(10, 99), rng.randint(10, 99)) for i in range(n)]


def respond(template: str, question: Question) -> str:
    return TEMPLATES[template].format(a=question.a, b=question.b, right=question.answer, wrong=question.answer + 1)


@dataclass
class Policy:
    """REINFORCE over the templates' softmax, with the batch mean as baseline; rewards are scores / 10."""

    seed: int = 0
    lr: float = 3.0
    logits: list[float] = field(default_factory=lambda: [0.0] * len(NAMES))

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def probs(self) -> list[float]:
        top = max(self.logits)
        weights = [math.exp(x - top) for x in self.logits]
        return [w / sum(weights) for w in weights]

    def act(self, step: int, batch: Sequence[Question], node_ids: dict[str, str]) -> list[mpo.Sample]:
        """One response per question; `gold` says whether its final answer is right (the judge never sees it)."""
        chosen = self.rng.choices(NAMES, weights=self.probs(), k=len(batch))
        return [
            mpo.Sample(
                id=f"s{step}-{q.id}-{name}",
                query=f"What is {q.a} + {q.b}?",
                response=respond(name, q),
                reference=str(q.answer),
                gold=float(name.startswith("correct")),
                node_id=node_ids.get(name),
            )
            for q, name in zip(batch, chosen, strict=True)
        ]

    def update(self, judged: Sequence[mpo.Judged]) -> None:
        scored = [(template_of(j.sample), j.score / 10) for j in judged if j.score is not None]
        if not scored:
            return
        baseline, probs = sum(r for _, r in scored) / len(scored), self.probs()
        for name, reward in scored:
            for k, other in enumerate(NAMES):
                grad = float(other == name) - probs[k]
                self.logits[k] += self.lr * (reward - baseline) * grad / len(scored)


def template_of(sample: mpo.Sample) -> str:
    return sample.id.rsplit("-", 1)[1]


def train(loop, policy: Policy, steps: int, batch: int, node_ids: dict[str, str], seed: int = 0) -> None:
    """`steps` policy updates, each on a fresh batch of questions, rewarded by `loop`."""
    for step in range(steps):
        judged = loop.score(policy.act(step, questions(batch, seed * 1000 + step), node_ids))
        policy.update(judged)
