"""Prompt caching end to end against fake providers that cache by the real rules (`cache_fakes`): the host asks an
Anthropic-style provider for caching with breakpoints (agents never do), keeps prefixes stable for OpenAI-style
automatic caching, and records and prices what the provider reports (costs below are computed by hand)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from opendgm.llm import (
    BudgetExceeded,
    BudgetLimits,
    CallRecord,
    LLMError,
    MemoryLedger,
    Price,
    ReplayMode,
    ReplayStore,
    RoleConfig,
    Router,
)
from opendgm.llm.gateway_client import SOCKET_ENV, TOKEN_ENV, GatewayError, chat
from opendgm.llm.provider import count_tokens
from tests.support.cache_fakes import Clock, FakeAnthropic, OpenAICache, words
from tests.support.llm_fakes import SECRET_ENV, Reply, completion

SONNET = "anthropic/claude-sonnet-4-5"  # litellm's price map: $3 in, $15 out, $0.30 read, $3.75 / $6 write per 1M
SYSTEM = " ".join(["stable"] * 1500)  # 1,500 tokens for the fakes: over the 1,024-token minimum


def _usd(per_million: float, tokens: int) -> float:
    return per_million * tokens / 1_000_000


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def anthropic(secret_env: str, clock: Clock) -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic(clock)
    yield fake
    fake.stop()


@pytest.fixture
def claude(anthropic: FakeAnthropic):
    """A Router with one role `agent` on the fake Anthropic API; role fields and Router options overridable."""

    def make(*, options: dict[str, Any] | None = None, **role: Any) -> Router:
        fields = {"model": SONNET, "api_base": anthropic.base_url, "api_key_env": SECRET_ENV, "max_tokens": 10}
        return Router({"agent": RoleConfig(**(fields | role))}, **(options or {}))

    return make


def _turns(n: int) -> list[dict[str, Any]]:
    """A system prompt and `n` user turns, each answered "ok" but the last."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for step in range(n):
        messages.append({"role": "user", "content": f"step {step}"})
        if step < n - 1:
            messages.append({"role": "assistant", "content": "ok"})
    return messages


def _marks(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Where the provider saw cache_control: (where, the mark)."""
    found = [(f"tool {t['name']}", t["cache_control"]) for t in body.get("tools", []) if "cache_control" in t]
    system = body.get("system")
    found += (
        [("system", p["cache_control"]) for p in system if "cache_control" in p] if isinstance(system, list) else []
    )
    for i, message in enumerate(body["messages"]):
        if isinstance(message["content"], list):
            found += [
                (f"message {i} {p['type']}", p["cache_control"]) for p in message["content"] if "cache_control" in p
            ]
    return found


def test_the_host_marks_the_stable_prefix_and_the_ledger_prices_reads_and_writes(anthropic, claude):
    router = claude()

    first = router.complete("agent", _turns(1))
    second = router.complete("agent", _turns(2))

    marks = [_marks(request["body"]) for request in anthropic.requests]
    assert marks[0] == [("system", {"type": "ephemeral"}), ("message 0 text", {"type": "ephemeral"})]
    # The system prompt, the end of the previous request (read now), the end of this one (written for the next).
    assert [where for where, _ in marks[1]] == ["system", "message 0 text", "message 2 text"]
    # First call: the whole 1,502-token prefix is written; second: read, and the 3 new tokens written.
    rows = router.ledger.calls()
    assert [(r.prompt_tokens, r.cache_read_tokens, r.cache_write_tokens, r.completion_tokens) for r in rows] == [
        (1502, 0, 1502, 1),
        (1505, 1502, 3, 1),
    ]
    assert first.call.cost_usd == pytest.approx(_usd(3.75, 1502) + _usd(15, 1))  # 0.0056475
    assert second.call.cost_usd == pytest.approx(_usd(0.30, 1502) + _usd(3.75, 3) + _usd(15, 1))  # 0.00047685
    assert router.ledger.totals().cache_read_tokens == 1502


def test_caching_off_sends_no_breakpoints_and_pays_full_input(anthropic, claude):
    router = claude(cache=False)

    router.complete("agent", _turns(1))
    router.complete("agent", _turns(2))

    assert all(_marks(request["body"]) == [] for request in anthropic.requests)
    rows = router.ledger.calls()
    assert [(r.prompt_tokens, r.cache_read_tokens, r.cache_write_tokens) for r in rows] == [(1502, 0, 0), (1505, 0, 0)]
    assert rows[1].cost_usd == pytest.approx(_usd(3, 1505) + _usd(15, 1))


def test_one_hour_entries_outlive_five_minutes_and_their_writes_cost_twice_the_input(anthropic, claude, clock):
    router = claude(cache_ttl="1h")

    first = router.complete("agent", _turns(1))
    clock.advance(30 * 60)  # a 5-minute entry would be gone
    second = router.complete("agent", _turns(2))

    assert {mark["ttl"] for request in anthropic.requests for _, mark in _marks(request["body"])} == {"1h"}
    assert first.call.cost_usd == pytest.approx(_usd(6, 1502) + _usd(15, 1))
    assert (second.call.cache_read_tokens, second.call.cache_write_tokens) == (1502, 3)


def test_an_expired_entry_is_written_again(anthropic, claude, clock):
    router = claude()

    router.complete("agent", _turns(1))
    clock.advance(5 * 60 + 1)
    late = router.complete("agent", _turns(2))

    assert (late.call.cache_read_tokens, late.call.cache_write_tokens) == (0, 1505)


def test_a_prefix_under_the_minimum_is_not_cached_even_when_marked(anthropic, claude):
    router = claude()
    short = [{"role": "system", "content": "short system prompt"}, {"role": "user", "content": "hi"}]

    router.complete("agent", short)
    router.complete("agent", short)

    assert _marks(anthropic.requests[0]["body"])  # asked for
    assert [(r.cache_read_tokens, r.cache_write_tokens) for r in router.ledger.calls()] == [(0, 0), (0, 0)]


def test_tools_without_a_system_prompt_are_marked_at_the_last_tool(anthropic, claude):
    tools = [
        {"type": "function", "function": {"name": f"tool{i}", "description": " ".join(["describe"] * 400)}}
        for i in range(3)
    ]
    router = claude()

    router.complete("agent", [{"role": "user", "content": "go"}], tools=tools)
    again = router.complete("agent", [{"role": "user", "content": "go"}], tools=tools)

    assert [where for where, _ in _marks(anthropic.requests[0]["body"])] == ["tool tool2", "message 0 text"]
    assert again.call.cache_read_tokens == again.call.prompt_tokens  # tools and the message, all read


def test_an_agent_trajectory_through_the_gateway_reads_its_whole_history_each_step(
    anthropic, claude, make_gateway, monkeypatch
):
    """The sandbox path: the agent sends plain OpenAI-shaped messages with tool calls; the host adds the marks."""
    router = claude()
    gateway = make_gateway(router)
    monkeypatch.setenv(SOCKET_ENV, str(gateway.socket_path))
    monkeypatch.setenv(TOKEN_ENV, gateway.issue_token("n1", "agent", purpose="agent t1"))
    tools = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "fix the bug"},
    ]
    for step in range(5):
        chat(messages, tools=tools)
        call = {"id": f"call{step}", "type": "function", "function": {"name": "bash", "arguments": '{"cmd": "ls"}'}}
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"call{step}", "content": f"output of step {step} " * 20})

    rows = router.ledger.calls()
    assert all(len(_marks(request["body"])) <= 3 for request in anthropic.requests)
    assert [r.cache_read_tokens for r in rows[1:]] == [r.prompt_tokens - r.cache_write_tokens for r in rows[1:]]
    assert all(r.cache_read_tokens >= previous.prompt_tokens for previous, r in itertools.pairwise(rows))
    assert sum(r.cache_read_tokens for r in rows) / sum(r.prompt_tokens for r in rows) > 0.75
    assert "cache_control" not in json.dumps(messages)  # the agent's own messages were never touched


def test_an_agents_own_cache_control_is_refused_at_the_gateway(anthropic, claude, make_gateway, monkeypatch):
    """Marks are the host's: an agent that sends its own (to exceed 4 and fail every call, or to buy 1-hour writes
    at twice the price) gets a 400 naming the field, and nothing reaches the provider."""
    gateway = make_gateway(claude())
    monkeypatch.setenv(SOCKET_ENV, str(gateway.socket_path))
    monkeypatch.setenv(TOKEN_ENV, gateway.issue_token("n1", "agent"))
    mark = {"type": "ephemeral", "ttl": "1h"}
    hostile = [
        [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": mark}]}],
        [{"role": "user", "content": "hi", "cache_control": mark}],
    ]
    for messages in hostile:
        with pytest.raises(GatewayError) as caught:
            chat(messages)
        assert caught.value.status == 400 and "cache_control" in str(caught.value)
    with pytest.raises(GatewayError):
        chat(
            [{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "t"}, "cache_control": mark}],
        )
    assert anthropic.count == 0


def test_the_budget_holds_the_price_of_a_cache_write_not_of_plain_input(anthropic, claude):
    """A call is never admitted on an optimistic guess: with caching asked for, every prompt token may be billed
    as a write (1.25x input), so a limit that covers plain input but not writes refuses the call unsent."""
    messages = _turns(1)
    prompt = count_tokens(SONNET, messages)  # the estimate's prompt; the completion is capped at max_tokens (10)
    limit = _usd(3 * 1.1, prompt) + _usd(15, 10)  # plain input fits, a write (1.25x) does not

    with pytest.raises(BudgetExceeded, match="USD limit"):
        claude(options={"limits": BudgetLimits(usd=limit)}).complete("agent", messages)
    assert anthropic.count == 0
    claude(options={"limits": BudgetLimits(usd=limit)}, cache=False).complete("agent", messages)
    assert anthropic.count == 1


class _Remembering(MemoryLedger):
    """A ledger that also keeps every record it was given, pending ones included."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[CallRecord] = []

    def record(self, call: CallRecord) -> None:
        self.seen.append(call)
        super().record(call)


def test_a_pending_call_carries_the_ceiling_of_its_cost(anthropic, claude):
    """What a killed campaign is charged for a call in flight: its prompt at the price of a write."""
    ledger = _Remembering()
    anthropic.script = [Reply(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "no"}})]
    messages = _turns(1)

    with pytest.raises(LLMError):
        claude(options={"ledger": ledger}, cache_ttl="1h").complete("agent", messages)

    pending = ledger.seen[0]
    assert pending.outcome == "pending"
    assert pending.cost_usd == pytest.approx(_usd(6, count_tokens(SONNET, messages)) + _usd(15, 10))


def test_replay_keys_on_the_request_as_the_agent_sent_it(anthropic, claude, tmp_path):
    store = tmp_path / "replay.sqlite"
    recorded = claude(options={"replay": ReplayStore(store, ReplayMode.RECORD)}).complete("agent", _turns(2))
    assert _marks(anthropic.requests[0]["body"])  # the provider got the marks
    anthropic.stop()

    # Caching off now: the request the provider would get differs, the agent's does not.
    replayed = claude(options={"replay": ReplayStore(store, ReplayMode.REPLAY)}, cache=False).complete(
        "agent", _turns(2)
    )

    assert replayed.call.replayed and replayed.call.request_hash == recorded.call.request_hash
    assert "cache_control" not in (tmp_path / "replay.sqlite").read_bytes().decode(errors="replace")


# -- OpenAI-style automatic caching -------------------------------------------------------------------------


def test_an_openai_style_provider_sees_the_agents_prefix_unchanged_and_its_cached_tokens_are_priced(
    fake_provider, fake_role, make_gateway, monkeypatch
):
    """Through the gateway, as a sandbox calls: the provider receives each message exactly as the agent sent it
    (nothing varying is put ahead), so its automatic cache serves the repeated prefix, in 128-token steps."""
    fake_provider.prompt_cache = OpenAICache()
    router = Router({"agent": fake_role(price=Price(prompt=1000, completion=1000, cache_read=500))})
    gateway = make_gateway(router)
    monkeypatch.setenv(SOCKET_ENV, str(gateway.socket_path))
    monkeypatch.setenv(TOKEN_ENV, gateway.issue_token("n1", "agent"))
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "fix it"}]

    chat(messages)
    messages += [{"role": "assistant", "content": "looking"}, {"role": "user", "content": "more output here"}]
    chat(messages)

    assert [request["body"]["messages"] for request in fake_provider.requests] == [messages[:2], messages]
    first, second = router.ledger.calls()
    # The fake counts 1 + 1500 + 1 + 2 = 1504 tokens, then 1504 + 2 + 4 = 1510; cached: 1024 + 3 * 128 = 1408.
    assert (first.prompt_tokens, first.cache_read_tokens) == (1504, 0)
    assert (second.prompt_tokens, second.cache_read_tokens, second.cache_write_tokens) == (1510, 1408, 0)
    assert second.cost_usd == pytest.approx(_usd(1000, 1510 - 1408) + _usd(500, 1408) + _usd(1000, 1))


def test_cached_tokens_of_a_role_without_a_cache_price_are_charged_in_full(fake_provider, fake_role):
    fake_provider.default = Reply(body=completion("hi", 2000, 1) | {"usage": {
        "prompt_tokens": 2000, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 1920}}})  # fmt: skip
    router = Router({"agent": fake_role()})  # $1000 per 1M, no cache price given: no discount assumed

    call = router.complete("agent", [{"role": "user", "content": "x"}]).call

    assert call.cache_read_tokens == 1920
    assert call.cost_usd == pytest.approx(_usd(1000, 2001))


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 100, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": -500}},
        {"prompt_tokens": 100, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": "all"}},
        {"prompt_tokens": 100, "completion_tokens": 1, "cache_creation_input_tokens": float("nan")},
        {"prompt_tokens": None, "completion_tokens": 1},
    ],
)
def test_a_cache_report_that_is_not_a_count_is_charged_the_ceiling(fake_provider, usage):
    """A self-hosted server's JSON reaches the host as it is (the direct path): nonsense is never believed."""
    fake_provider.default = Reply(body=completion("hi") | {"usage": usage})
    role = RoleConfig(
        model="openai/fake",
        api_base=fake_provider.base_url,
        max_tokens=10,
        price=Price(prompt=1000, completion=1000, cache_read=1),
    )
    router = Router({"agent": role})

    call = router.complete("agent", [{"role": "user", "content": "x"}]).call

    assert call.cost_usd == pytest.approx(_usd(1000, call.prompt_tokens + role.max_tokens))
    assert call.cache_read_tokens == 0 and call.prompt_tokens == count_tokens(
        role.model, [{"role": "user", "content": "x"}]
    )


def test_cached_counts_above_the_prompt_are_capped_by_it(fake_provider, fake_role):
    """A buggy or hostile self-hosted server claiming more cached tokens than the prompt holds gets no credit."""
    fake_provider.default = Reply(body=completion("hi") | {"usage": {
        "prompt_tokens": 100, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 10**9},
        "cache_creation_input_tokens": 10**9}})  # fmt: skip
    router = Router({"agent": fake_role(price=Price(prompt=1000, completion=1000, cache_read=100, cache_write=1250))})

    call = router.complete("agent", [{"role": "user", "content": "x"}]).call

    assert (call.prompt_tokens, call.cache_read_tokens, call.cache_write_tokens) == (100, 100, 0)
    assert call.cost_usd == pytest.approx(_usd(100, 100) + _usd(1000, 1)) and call.cost_usd > 0


# -- host prompts ---------------------------------------------------------------------------------------------


def test_diagnoses_of_one_parent_read_its_code_from_the_cache(anthropic, claude):
    """The diagnosis meta-prompt puts the parent's code first; the host sends that part as the system message, so a
    second diagnosis of the same parent (another failed task) reads it instead of paying for it again."""
    from opendgm.evolve.self_improve import diagnosis_messages
    from opendgm.prompts.meta_prompts import prompt_text

    code = " ".join(f"line{i}" for i in range(2000))
    router = claude()
    for task in ("fix the parser", "add a flag"):
        values = {"agent_code": code, "task_statement": task, "outcome": "unresolved"}
        values |= {"trajectory": f"ran {task}", "patch": "(none)", "grading": "1 failed"}
        messages = diagnosis_messages(prompt_text("diagnose.md"), values)
        router.complete("agent", messages)

    assert [m["role"] for m in messages] == ["system", "user"] and messages[0]["content"].endswith(code)
    first, second = router.ledger.calls()
    head = words(messages[0]["content"])  # the meta-prompt's opening and the 2,000-token code
    assert head > 2000 and (first.cache_read_tokens, first.cache_write_tokens) == (0, first.prompt_tokens)
    assert second.cache_read_tokens == head  # the task's part differs: written, not read
    assert diagnosis_messages("no code here: $task_statement", {"task_statement": "t"}) == [
        {"role": "user", "content": "no code here: t"}
    ]
