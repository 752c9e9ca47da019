"""The real embedded model (SmolLM2-135M on llama.cpp): one call through the Router and one through the
Gateway socket, each leaving a ledger row with the token counts the server reported; on both send paths."""

from __future__ import annotations

import pytest

from opendgm.llm import ContextTooLong, Router
from opendgm.llm.gateway_client import SOCKET_ENV, TOKEN_ENV, chat

pytestmark = [pytest.mark.model, pytest.mark.usefixtures("send_path")]

PROMPT = [{"role": "user", "content": "Name one colour."}]


def test_a_completion_through_the_router(llama_server):
    router = Router({"agent": llama_server.role(max_tokens=8, temperature=0)}, campaign="local")

    result = router.complete("agent", PROMPT, node="n0", purpose="test")

    assert result.text.strip()
    (row,) = router.ledger.calls()
    assert row.outcome == "ok" and row.prompt_tokens > 0 and 0 < row.completion_tokens <= 8
    assert (row.cost_usd, row.node, row.campaign) == (0, "n0", "local")
    assert result.response["usage"]["completion_tokens"] == row.completion_tokens


def test_a_completion_through_the_gateway_socket(llama_server, make_gateway, monkeypatch):
    router = Router({"agent": llama_server.role(max_tokens=8, temperature=0)})
    gateway = make_gateway(router)
    monkeypatch.setenv(SOCKET_ENV, str(gateway.socket_path))
    monkeypatch.setenv(TOKEN_ENV, gateway.issue_token("n1", "agent"))

    reply = chat(PROMPT, max_tokens=6)

    assert reply["choices"][0]["message"]["content"].strip()
    (row,) = router.ledger.calls()
    assert (row.node, row.outcome) == ("n1", "ok")
    assert row.prompt_tokens > 0 and 0 < row.completion_tokens <= 6
    assert row.completion_tokens == reply["usage"]["completion_tokens"]


def test_an_overlong_prompt_is_reported_as_context_too_long(llama_server):
    router = Router({"agent": llama_server.role(max_tokens=8)})

    with pytest.raises(ContextTooLong, match="context"):
        router.complete("agent", [{"role": "user", "content": "word " * 3000}])
    assert router.ledger.calls()[-1].error_class == "ContextTooLong"
