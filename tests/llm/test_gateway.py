"""The gateway against a fake provider: token auth, per-node attribution and budget, error statuses,
and the socket's life cycle."""

from __future__ import annotations

import json
import socket
import stat
import threading

import pytest

from opendgm.llm import BudgetLimits, Gateway
from opendgm.llm.gateway_client import SOCKET_ENV, TOKEN_ENV, GatewayError, UnixHTTPConnection, chat, request
from tests.support.llm_fakes import MESSAGES, SECRET, error, one_call_usd


@pytest.fixture
def as_sandbox(monkeypatch):
    """Point the stdlib client at a gateway with a token, as a sandbox's environment would."""

    def use(gateway: Gateway, token: str) -> None:
        monkeypatch.setenv(SOCKET_ENV, str(gateway.socket_path))
        monkeypatch.setenv(TOKEN_ENV, token)

    return use


def _raw(gateway: Gateway, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    conn = UnixHTTPConnection(str(gateway.socket_path), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_call_is_attributed_to_the_tokens_node_and_role(fake_provider, make_router, make_gateway, as_sandbox):
    router = make_router()
    gateway = make_gateway(router)
    as_sandbox(gateway, gateway.issue_token("node-7", "agent", purpose="self_improve"))

    reply = chat(MESSAGES, model="gpt-4o", max_tokens=3)

    assert reply["choices"][0]["message"]["content"] == "hello"
    (row,) = router.ledger.calls()
    assert (row.node, row.role, row.purpose, row.outcome) == ("node-7", "agent", "self_improve", "ok")
    sent = fake_provider.requests[0]
    assert sent["body"]["model"] == "fake" and sent["body"]["max_tokens"] == 3  # the token picks the model
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"  # the key was added on the host


def test_a_sandbox_cannot_ask_for_more_tokens_than_its_role_allows(
    fake_provider, make_router, make_gateway, as_sandbox
):
    gateway = make_gateway(make_router())  # the fake role's max_tokens is 10
    as_sandbox(gateway, gateway.issue_token("n", "agent"))
    chat(MESSAGES, max_tokens=5000)
    chat(MESSAGES, max_tokens=4)
    assert [r["body"]["max_tokens"] for r in fake_provider.requests] == [10, 4]


@pytest.mark.parametrize("token", ["", "not-a-token", "revoked"])
def test_a_wrong_missing_or_revoked_token_gets_401(fake_provider, make_router, make_gateway, as_sandbox, token):
    gateway = make_gateway(make_router())
    if token == "revoked":
        token = gateway.issue_token("n", "agent")
        gateway.revoke(token)
    as_sandbox(gateway, token)

    with pytest.raises(GatewayError) as caught:
        chat(MESSAGES)

    assert caught.value.status == 401
    assert fake_provider.count == 0


def test_another_nodes_token_cannot_spend_this_nodes_budget(
    fake_provider, fake_role, make_router, make_gateway, as_sandbox
):
    router = make_router(limits=BudgetLimits(node_usd=one_call_usd(fake_role())))
    gateway = make_gateway(router)
    token_a, token_b = gateway.issue_token("a", "agent"), gateway.issue_token("b", "agent")

    as_sandbox(gateway, token_a)
    chat(MESSAGES)
    with pytest.raises(GatewayError) as caught:
        chat(MESSAGES)
    assert (caught.value.status, caught.value.kind) == (402, "budget_exceeded")
    assert "node 'a'" in str(caught.value)

    as_sandbox(gateway, token_b)
    chat(MESSAGES)  # b's spend is b's own: a's exhausted budget does not block it
    assert fake_provider.count == 2
    assert router.ledger.totals(node="a").calls == 2 and router.ledger.totals(node="b").errors == 0


def test_models_lists_the_tokens_role(make_router, make_gateway, as_sandbox):
    gateway = make_gateway(make_router())
    as_sandbox(gateway, gateway.issue_token("n", "agent"))

    assert [m["id"] for m in request("GET", "/v1/models")["data"]] == ["agent"]


@pytest.mark.parametrize(
    ("upstream", "status", "kind"),
    [
        (error(401, "bad key"), 502, "authentication_failed"),
        (error(404, "no model"), 502, "model_not_found"),
        (error(400, "too long", code="context_length_exceeded"), 400, "context_length_exceeded"),
        (error(503, "overloaded"), 503, "retries_exhausted"),
    ],
)
def test_upstream_failures_reach_the_sandbox_as_clear_errors(
    fake_provider, make_router, make_gateway, as_sandbox, upstream, status, kind
):
    fake_provider.default = upstream
    gateway = make_gateway(make_router())
    as_sandbox(gateway, gateway.issue_token("n", "agent"))

    with pytest.raises(GatewayError) as caught:
        chat(MESSAGES)

    assert (caught.value.status, caught.value.kind) == (status, kind)
    assert upstream.body["error"]["message"] in str(caught.value)


def test_a_key_echoed_by_the_provider_does_not_reach_the_sandbox(fake_provider, make_router, make_gateway, as_sandbox):
    fake_provider.default = error(401, f"Incorrect API key provided: {SECRET}")
    gateway = make_gateway(make_router())
    as_sandbox(gateway, gateway.issue_token("n", "agent"))

    with pytest.raises(GatewayError) as caught:
        chat(MESSAGES)

    assert SECRET not in str(caught.value) and "Incorrect API key provided: [redacted]" in str(caught.value)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/chat/completions", b"{not json", 400),
        ("/v1/chat/completions", json.dumps({"messages": MESSAGES, "logprobs": True}).encode(), 400),
        ("/v1/chat/completions", json.dumps({"messages": MESSAGES, "stream": True}).encode(), 400),
        ("/v1/chat/completions", json.dumps({"messages": []}).encode(), 400),
        ("/v1/embeddings", json.dumps({"input": "x"}).encode(), 404),
    ],
)
def test_bad_requests_are_refused_before_reaching_the_model(
    fake_provider, make_router, make_gateway, path, body, status
):
    gateway = make_gateway(make_router())
    headers = {"Authorization": f"Bearer {gateway.issue_token('n', 'agent')}"}

    code, payload = _raw(gateway, "POST", path, body, headers)

    assert code == status and payload["error"]["message"]
    assert fake_provider.count == 0


def test_a_connection_stays_usable_after_a_refused_request(make_router, make_gateway):
    gateway = make_gateway(make_router())
    good = {"Authorization": f"Bearer {gateway.issue_token('n', 'agent')}"}
    body = json.dumps({"messages": MESSAGES}).encode()
    conn = UnixHTTPConnection(str(gateway.socket_path), timeout=10)
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers={"Authorization": "Bearer wrong"})
        first = conn.getresponse()
        first.read()
        conn.request("POST", "/v1/chat/completions", body=body, headers=good)
        second = conn.getresponse()
        assert (first.status, second.status) == (401, 200)
        assert json.loads(second.read())["choices"][0]["message"]["content"] == "hello"
    finally:
        conn.close()


def test_a_client_that_waits_for_100_continue_gets_it_at_once(make_router, make_gateway):
    gateway = make_gateway(make_router())
    body = json.dumps({"messages": MESSAGES}).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {gateway.issue_token('n', 'agent')}\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(5)
        client.connect(str(gateway.socket_path))
        client.sendall(head.encode())  # as curl does with a large body: headers first, body after the 100

        assert client.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n")
        client.sendall(body)
        assert client.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")


def _gateway_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("opendgm-gateway")}


def test_call_threads_are_reused_and_end_with_the_gateway(make_router, socket_dir, as_sandbox):
    before = _gateway_threads()
    with Gateway(make_router(), socket_dir / "g.sock") as gateway:
        as_sandbox(gateway, gateway.issue_token("n", "agent"))
        for _ in range(10):
            chat(MESSAGES)  # a fresh connection each
        threads = _gateway_threads() - before
        assert 2 <= len(threads) <= 4  # the connections' event loop, and a call thread that takes the next call

    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive()


def test_an_idle_connection_does_not_hold_up_others(make_router, make_gateway, as_sandbox):
    gateway = make_gateway(make_router())
    as_sandbox(gateway, gateway.issue_token("n", "agent"))
    with socket.socket(socket.AF_UNIX) as idle:
        idle.connect(str(gateway.socket_path))  # connected, and silent: its thread waits on it

        assert chat(MESSAGES)["choices"][0]["message"]["content"] == "hello"


def test_the_socket_is_world_connectable_and_removed_on_stop(make_router, socket_dir):
    path = socket_dir / "g.sock"
    with Gateway(make_router(), path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666
    assert not path.exists()


def test_a_stale_socket_is_replaced_but_a_live_one_or_a_file_is_not(make_router, socket_dir):
    stale = socket_dir / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(stale))
    leftover.close()  # bound, never listening: what a crashed gateway leaves behind
    with Gateway(make_router(), stale), pytest.raises(FileExistsError, match="in use"):
        Gateway(make_router(), stale).start()

    not_a_socket = socket_dir / "notes.txt"
    not_a_socket.write_text("someone else's file")
    with pytest.raises(FileExistsError, match="not a socket"):
        Gateway(make_router(), not_a_socket).start()
    assert not_a_socket.read_text() == "someone else's file"


def test_tokens_are_only_issued_for_configured_roles_and_real_deadlines(make_router, socket_dir):
    gateway = Gateway(make_router(), socket_dir / "g.sock")
    with pytest.raises(ValueError, match="unknown role 'judge'"):
        gateway.issue_token("n", "judge")
    for deadline_s in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="deadline_s"):
            gateway.issue_token("n", "agent", deadline_s=deadline_s)
