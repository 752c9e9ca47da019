"""Issue 12, hole 5 and the forwarded fields: a sandbox's request reaches the model only as text messages,
OpenAI-shaped tool calls and results, tools, and sampling parameters within the role's limits. Anything else is
a 400 that names the field, and never reaches the provider, the router or the budget."""

from __future__ import annotations

import threading
import time

import pytest

from opendgm.llm import BudgetLimits
from tests.support.gateway_attack import fake_role, post, router_for
from tests.support.llm_fakes import MESSAGES, Reply, completion

HOSTILE_COUNTS = [-1, -100_000, 0, 2.5, 10.0, "5", "-1", True, False, [], {}, 1e30]


@pytest.fixture
def gateway(fake_provider, make_gateway):
    return make_gateway(router_for(fake_provider))  # the role's cap is 10 completion tokens


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("value", HOSTILE_COUNTS, ids=repr)
def test_a_token_count_that_is_not_a_positive_integer_is_refused(fake_provider, gateway, key, value):
    status, payload = post(gateway.socket_path, gateway.issue_token("n", "agent"), {"messages": MESSAGES, key: value})

    assert status == 400, payload
    assert key in payload["error"]["message"]
    assert fake_provider.count == 0


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
def test_a_token_count_above_the_roles_cap_reaches_the_model_as_the_cap(fake_provider, gateway, key):
    token = gateway.issue_token("n", "agent")
    assert post(gateway.socket_path, token, {"messages": MESSAGES, key: 5000})[0] == 200
    assert post(gateway.socket_path, token, {"messages": MESSAGES, key: 4})[0] == 200

    sent = [request["body"] for request in fake_provider.requests]
    assert [body[key] for body in sent] == [10, 4]
    assert all(1 <= body.get("max_tokens", 1) <= 10 for body in sent)


def test_a_negative_max_tokens_cannot_open_a_nodes_budget(fake_provider, make_gateway):
    """The review's attack: one call with a negative max_tokens held open (the provider is slow) made the budget's
    in-flight estimate negative, and 19 calls went through a 200-token node limit."""
    router = router_for(fake_provider, limits=BudgetLimits(node_tokens=200))
    gateway = make_gateway(router)
    token = gateway.issue_token("n", "agent")
    fake_provider.default = Reply(body=completion(prompt_tokens=10, completion_tokens=10))  # what a call costs
    fake_provider.script = [Reply(body=completion(prompt_tokens=10, completion_tokens=10), hang_s=2)]
    held = threading.Thread(
        target=post, args=(gateway.socket_path, token, {"messages": MESSAGES, "max_tokens": -(10**6)})
    )
    held.start()
    deadline = time.monotonic() + 5
    while held.is_alive() and fake_provider.count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the hostile call is held open upstream, or was refused

    statuses = [post(gateway.socket_path, token, {"messages": MESSAGES, "max_tokens": 10})[0] for _ in range(19)]
    held.join()

    spent = router.ledger.totals(node="n").tokens
    assert spent <= 200, f"{statuses.count(200)} calls went through: {spent} tokens spent against a 200-token limit"


@pytest.mark.parametrize(
    ("part", "kind"),
    [
        ({"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest/meta-data/"}}, "image_url"),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "input_audio"),
        ({"type": "file", "file": {"file_id": "file-123"}}, "file"),
        ({"type": "text", "text": "hi", "image_url": {"url": "http://example.com/x.png"}}, "image_url"),
        ({"type": "video_url", "video_url": {"url": "http://example.com/v.mp4"}}, "video_url"),
    ],
)
def test_content_parts_other_than_text_are_refused_naming_the_field(fake_provider, gateway, part, kind):
    messages = [{"role": "user", "content": [{"type": "text", "text": "describe this"}, part]}]

    status, payload = post(gateway.socket_path, gateway.issue_token("n", "agent"), {"messages": messages})

    assert status == 400, payload
    message = payload["error"]["message"]
    assert "messages[0].content[1]" in message and kind in message
    assert fake_provider.count == 0


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "hi", "audio": {"id": "audio-1"}}]},
        {"messages": [{"role": "user", "content": {"url": "http://example.com"}}]},
        {"messages": [{"role": "user"}]},
        {"messages": [{"role": "robot", "content": "hi"}]},
        {"messages": [{"role": ["user"], "content": "hi"}]},
        {"messages": [{"role": "user", "content": "hi"}], "tool_choice": {"type": "function", "function": []}},
        {"messages": ["hi"]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
        {"messages": [{"role": "tool", "content": "42"}]},  # a tool result names the call it answers
        {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "web", "function": {}}]}]},
        {"messages": MESSAGES, "logit_bias": {"50256": 100}},
        {"messages": MESSAGES, "web_search_options": {}},
        {"messages": MESSAGES, "extra_body": {"image_url": "http://example.com"}},
        {"messages": MESSAGES, "temperature": "hot"},
        {"messages": MESSAGES, "temperature": 7},
        {"messages": MESSAGES, "top_p": -1},
        {"messages": MESSAGES, "seed": 1.5},
        {"messages": MESSAGES, "stop": ["a", "b", "c", "d", "e"]},
        {"messages": MESSAGES, "tools": [{"type": "retrieval", "url": "http://example.com"}]},
        {"messages": MESSAGES, "response_format": {"type": "json_schema", "json_schema": "http://example.com/s"}},
    ],
    ids=lambda body: next((k for k in body if k != "messages"), repr(body["messages"])[:60]),
)
def test_fields_agents_do_not_need_are_refused_before_the_model(fake_provider, gateway, body):
    status, payload = post(gateway.socket_path, gateway.issue_token("n", "agent"), body)

    assert status == 400, payload
    assert payload["error"]["type"] == "invalid_request" and payload["error"]["message"]
    assert fake_provider.count == 0


def test_tool_calls_tool_results_and_tools_in_openais_shape_reach_the_model(fake_provider, gateway):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "bash",
                "description": "run a command",
                "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
            },
        }
    ]
    call = {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": '{"cmd": "ls"}'}}
    messages = [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": [{"type": "text", "text": "list the files"}]},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "README.md"},
    ]
    sampling = {"tool_choice": "auto", "temperature": 0.2, "top_p": 0.9, "stop": ["\n\n"], "seed": 7, "max_tokens": 8}
    body = {"messages": messages, "tools": tools, "response_format": {"type": "text"}, **sampling}

    status, payload = post(gateway.socket_path, gateway.issue_token("n", "agent"), body)

    assert status == 200, payload
    sent = fake_provider.requests[0]["body"]
    assert sent["messages"] == messages
    assert sent["tools"] == tools
    assert {k: sent[k] for k in sampling} == sampling


def test_an_assistant_message_copied_from_an_answer_is_accepted_without_its_empty_fields(fake_provider, gateway):
    """OpenAI's SDK gives back assistant messages with null fields (refusal, audio, function_call); agents append
    them to the conversation as they are. The empty fields are dropped, nothing else is."""
    copied = {"role": "assistant", "content": "ls", "refusal": None, "audio": None, "function_call": None}
    messages = [*MESSAGES, copied, {"role": "user", "content": "and then?"}]

    status, payload = post(gateway.socket_path, gateway.issue_token("n", "agent"), {"messages": messages})

    assert status == 200, payload
    assert fake_provider.requests[0]["body"]["messages"][1] == {"role": "assistant", "content": "ls"}


def test_the_role_sets_the_model_whatever_the_request_names(fake_provider, make_gateway):
    gateway = make_gateway(router_for(fake_provider, fake_role(fake_provider, model="openai/fake-small")))
    body = {"messages": MESSAGES, "model": "gpt-4o", "user": "someone"}

    assert post(gateway.socket_path, gateway.issue_token("n", "agent"), body)[0] == 200
    sent = fake_provider.requests[0]["body"]
    assert sent["model"] == "fake-small" and "user" not in sent
