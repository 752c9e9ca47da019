"""MPO's loop over the archive with a scripted judge and MRM (see tests/support/mpo_toy.py).

The demonstration: under a seed rubric that pays for length and keywords, a REINFORCE policy learns
padded wrong answers; the judge's mean rises while gold accuracy falls, the hacking alarm fires, the MRM's
child rubric deducts for wrong answers, and the policy gets its answers right again.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

import tests.support.mpo_toy as toy
from opendgm.archive import Archive
from opendgm.cli import app
from opendgm.llm import BadRequest, BudgetExceeded, MalformedResponse, ProviderError
from opendgm.outcomes import InfrastructureFailure
from opendgm.prompts import mpo
from opendgm.prompts.rubrics import ModelFor, RubricLoop, Settings, seed_rubric
from opendgm.prompts.target import Complete

TASK = "Answer arithmetic questions with the exact sum."


class Charged:
    """A `ModelFor` that serves one scripted model and remembers which node each call was charged to."""

    def __init__(self, complete: Complete) -> None:
        self.complete, self.nodes = complete, []

    def __call__(self, node_id: str, purpose: str) -> Complete:
        def call(messages: list[dict[str, str]], temperature: float) -> str:
            self.nodes.append(node_id)
            return self.complete(messages, temperature)

        return call


def fixed(complete: Complete) -> ModelFor:
    return lambda _node, _purpose: complete


def samples(n: int, step: int = 0, template: str = "wrong_padded") -> list[mpo.Sample]:
    return [
        mpo.Sample(
            f"s{step}-{q.id}-{template}", f"What is {q.a} + {q.b}?", toy.respond(template, q), str(q.answer), 0.0
        )
        for q in toy.questions(n, step)
    ]


def intervals(archive: Archive) -> list[list[dict]]:
    """The judged samples of every interval, from the artifacts the `mpo_interval` events name."""
    events = [e for e in archive.events() if e.kind == "mpo_interval"]
    return [[json.loads(line) for line in archive.artifacts.read_text(e.data["artifact"]).splitlines()] for e in events]


@pytest.fixture
def archive(tmp_path):
    with Archive.create(tmp_path / "mpo", "mpo-toy") as opened:
        yield opened


@pytest.fixture
def make_loop(archive) -> Callable[..., RubricLoop]:
    def make(mrm: Complete | None = None, judge: Complete = toy.judge, **settings) -> RubricLoop:
        seed = seed_rubric(archive, toy.SEED_RUBRIC)
        return RubricLoop(archive, seed, fixed(judge), fixed(mrm or toy.ScriptedMRM()), Settings(**settings))

    return make


def test_refinement_closes_the_hack_that_the_seed_rubric_invites(archive):
    seed = seed_rubric(archive, toy.SEED_RUBRIC)
    templates = {name: archive.add_node("prompt", text, operator="seed").id for name, text in toy.TEMPLATES.items()}
    mrm = Charged(toy.ScriptedMRM())
    settings = Settings(interval=2, samples=6, refine="alarm", task=TASK)
    loop = RubricLoop(archive, seed, fixed(toy.judge), mrm, settings)
    toy.train(loop, toy.Policy(seed=0), steps=40, batch=8, node_ids=templates)

    # With the seed rubric fixed, the policy games it: the judge's mean rises while gold accuracy falls.
    before = [i for i in loop.history if i.rubric == seed]
    assert before[-1].proxy > before[0].proxy + 2 and before[-1].gold < before[0].gold - 0.3
    (alarm,) = [e for e in archive.events() if e.kind == "reward_hacking_alarm"]
    assert alarm.node_id == seed and alarm.data["interval"] == len(before)
    assert alarm.data["proxy_gain"] > 0 >= alarm.data["gold_gain"]
    assert archive.node(seed).meta["hacking_alarm"] == alarm.data

    # The alarm triggered a refinement: a child rubric, made by MRM calls charged to it, now judges.
    (child,) = archive.children(seed)
    assert (child.operator, child.status, loop.rubric_id) == ("mpo", "evaluated", child.id)
    assert set(mrm.nodes) == {child.id}
    assert child.meta["interval"] == len(before) and len(child.meta["samples"]) == 6
    assert [r["sample_id"] for r in child.meta["refinements"]] == child.meta["samples"]
    criteria = mpo.criteria(str(child.content))
    assert toy.WRONG_ANSWER_ITEM in criteria and len(set(criteria)) == len(criteria)  # merged without repeats

    # Under the child, gamed outputs score below correct ones: as recorded, and on one question.
    after = [line for lines in intervals(archive)[len(before) :] for line in lines]
    assert {line["rubric"] for line in after} == {child.id}
    right = [line["score"] for line in after if line["gold"] == 1.0]
    wrong = [line["score"] for line in after if line["gold"] == 0.0]
    assert max(wrong) < min(right)
    question = toy.Question("q", 23, 45)
    scores = {n: mpo.judge(toy.judge, str(child.content), _sample(n, question)).score for n in toy.NAMES}
    assert max(scores["wrong_padded"], scores["wrong_concise"]) < min(
        scores["correct_concise"], scores["correct_padded"]
    )

    # Rewarded by it, the policy answers correctly again; every interval was recorded under its rubric.
    assert loop.history[-1].gold >= 0.8 > before[-1].gold
    events = [e for e in archive.events() if e.kind == "mpo_interval"]
    assert [(e.node_id, e.data["index"]) for e in events] == [(i.rubric, i.index) for i in loop.history]
    scored_under = {(e.src, e.dst) for e in archive.edges() if e.kind == "scored_under"}
    assert (templates["wrong_padded"], seed) in scored_under and (templates["correct_padded"], child.id) in scored_under

    # `opendgm show` on the seed rubric lists its intervals and where the alarm fired; the tree has both rubrics.
    shown = CliRunner().invoke(app, ["show", str(archive.root), seed], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "judged under this rubric" in shown.output and "fired: judge +" in shown.output
    tree = CliRunner().invoke(app, ["tree", str(archive.root)], env={"COLUMNS": "200"}).output
    assert f"{seed} rubric evaluated seed" in tree and f"{child.id} rubric evaluated mpo" in tree


def _sample(template: str, question: toy.Question) -> mpo.Sample:
    return mpo.Sample(
        "x", f"What is {question.a} + {question.b}?", toy.respond(template, question), str(question.answer)
    )


def test_with_the_seed_rubric_kept_the_policy_stays_hacked(archive, make_loop):
    loop = make_loop(interval=2, samples=6, refine="never", task=TASK)
    toy.train(loop, toy.Policy(seed=0), steps=24, batch=8, node_ids={})
    assert archive.nodes(kind="rubric") == [archive.node(loop.rubric_id)]  # no child
    assert loop.history[-1].gold <= 0.1 and loop.history[-1].proxy >= 8
    assert len([e for e in archive.events() if e.kind == "reward_hacking_alarm"]) >= 1


def test_refinement_sees_only_the_sampled_pairs(archive):
    mrm = toy.ScriptedMRM()
    seed = seed_rubric(archive, toy.SEED_RUBRIC)
    loop = RubricLoop(archive, seed, fixed(toy.judge), fixed(mrm), Settings(interval=1, samples=3, seed=7))
    batch = samples(8)
    loop.score(batch)
    (child,) = archive.children(seed)
    sampled = child.meta["samples"]
    assert len(sampled) == 3 and set(sampled) <= {s.id for s in batch}
    assert mrm.seen == [next(s.response for s in batch if s.id == sample_id) for sample_id in sampled]


def test_junk_from_the_mrm_rejects_the_child_and_the_loop_goes_on(archive, make_loop):
    loop = make_loop(mrm=lambda _messages, _temperature: "The rubric looks fine to me.", interval=1, samples=2)
    seed = loop.rubric_id
    for step in range(2):
        assert all(j.score is not None for j in loop.score(samples(4, step)))
    children = archive.children(seed)
    assert [c.status for c in children] == ["rejected", "rejected"]
    assert children[0].status_reason == "the MRM wrote no <item> criteria" and children[0].content is None
    assert loop.rubric_id == seed and len(loop.history) == 2


def test_a_merge_without_items_falls_back_to_the_mechanical_merge(archive, make_loop):
    scripted = toy.ScriptedMRM()

    def mrm(messages: list[dict[str, str]], temperature: float) -> str:
        return "Merged, as asked." if "<candidate" in messages[0]["content"] else scripted(messages, temperature)

    loop = make_loop(mrm=mrm, interval=1, samples=2)
    seed = loop.rubric_id
    loop.score(samples(4))
    (child,) = archive.children(seed)
    assert child.meta["merged_by"] == "mechanical" and child.status == "evaluating"
    assert mpo.criteria(str(child.content)) == [*mpo.criteria(toy.SEED_RUBRIC), *toy.REFINED_ITEMS]
    loop.score(samples(4, step=1))  # an interval measured under it
    assert archive.node(child.id).status == "evaluated"


def test_unscored_judge_answers_are_recorded_as_unscored(archive, make_loop):
    def judge(messages: list[dict[str, str]], temperature: float) -> str:
        if "23 + 45" in messages[0]["content"]:
            raise MalformedResponse("empty answer")
        return "Looks good." if "What is 2 + 2?" in messages[0]["content"] else "Fine.\nSCORE: 6"

    loop = make_loop(judge=judge, interval=1, refine="never")
    batch = [
        mpo.Sample("a", "What is 2 + 2?", "4", "4", 1.0),
        mpo.Sample("b", "What is 23 + 45?", "68", "68", 1.0),
        mpo.Sample("c", "What is 3 + 3?", "6", "6", 1.0),
    ]
    assert [j.score for j in loop.score(batch)] == [None, None, 6.0]
    ((a, b, c),) = intervals(archive)
    assert (a["score"], a["verdict"], b["verdict"], c["note"]) == (None, "Looks good.", "", None)
    assert a["note"] and b["note"] and a["rubric"] == loop.rubric_id
    (event,) = [e for e in archive.events() if e.kind == "mpo_interval"]
    assert (event.data["proxy"], event.data["n"], event.data["unscored"]) == (6.0, 3, 2)


def test_a_failing_mrm_service_is_an_event_a_bad_request_fails_the_child_a_spent_budget_stops(archive, make_loop):
    def broken(messages: list[dict[str, str]], temperature: float) -> str:
        raise ProviderError("refused")

    loop = make_loop(mrm=broken, interval=1, samples=1)
    with pytest.raises(InfrastructureFailure, match="refused"):
        loop.score(samples(2))
    (child,) = archive.children(loop.rubric_id)
    assert child.status == "proposed", "the service failed, not the MRM's product: no verdict on the child"

    def bad(messages: list[dict[str, str]], temperature: float) -> str:
        raise BadRequest("unknown field")

    loop.mrm = fixed(bad)
    loop.score(samples(2, step=1))
    assert [c.status for c in archive.children(loop.rubric_id)] == ["proposed", "failed"]

    def spent(messages: list[dict[str, str]], temperature: float) -> str:
        raise BudgetExceeded("no money left")

    loop.mrm = fixed(spent)
    with pytest.raises(BudgetExceeded):
        loop.score(samples(2, step=2))
    assert [c.status for c in archive.children(loop.rubric_id)] == ["proposed", "failed", "proposed"]


def test_a_restarted_loop_resumes_from_the_archive(archive, make_loop):
    first = make_loop(interval=2, samples=4, refine="interval", task=TASK)
    for step in range(4):
        first.score(samples(4, step))
    adopted = first.rubric_id
    assert adopted != first.root and len(first.history) == 2
    cut_short = archive.propose("rubric", adopted, operator="mpo").id  # killed while the MRM was working

    again = RubricLoop.resume(archive, first.root, fixed(toy.judge), fixed(toy.ScriptedMRM()), first.settings)
    assert (again.rubric_id, again.root, again.history) == (adopted, first.root, first.history)
    assert archive.node(cut_short).status == "failed"
    again.score(samples(4, 10))
    again.score(samples(4, 11))
    assert [i.index for i in again.history] == [1, 2, 3]
