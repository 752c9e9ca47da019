"""The two send paths: self-hosted OpenAI-compatible roles go out directly, everything else through
litellm. Both are exercised by every fake-provider test (see conftest); these tests pin which path a
role takes and what only the direct path parses itself."""

from __future__ import annotations

import pytest

from opendgm.llm import (
    FREE,
    BadRequest,
    LLMTimeout,
    MalformedResponse,
    RetriesExhausted,
    RoleConfig,
    Router,
    ServerError,
)
from opendgm.llm.provider import NO_KEY
from tests.support.llm_fakes import MESSAGES, Reply, completion, error


def test_the_fixture_role_takes_the_path_it_names(fake_provider, make_router, send_path):
    make_router().complete("agent", MESSAGES)

    agent = fake_provider.requests[0]["headers"]["user-agent"]
    assert agent.startswith("python-httpx/") == (send_path == "direct"), agent


@pytest.mark.usefixtures("send_path")
def test_a_keyless_self_hosted_role_never_sends_the_users_openai_key(fake_provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-own")
    router = Router({"agent": RoleConfig(model="openai/fake", api_base=fake_provider.base_url, price=FREE)})

    router.complete("agent", MESSAGES)

    sent = fake_provider.requests[0]
    assert sent["headers"]["authorization"] == f"Bearer {NO_KEY}"
    assert sent["body"]["model"] == "fake"


@pytest.mark.parametrize(
    ("reply", "expected", "words"),
    [
        (Reply(418, {"error": "no tea here"}), BadRequest, "no tea here"),  # Ollama's error shape
        (Reply(422, {"detail": "field required"}), BadRequest, "field required"),  # FastAPI's
        (Reply(400, {"object": "error", "message": "bad stop", "code": 400}), BadRequest, "bad stop"),  # older vLLM
        (Reply(raw=b"[1, 2]"), MalformedResponse, "JSON list, not an object"),
    ],
)
def test_the_direct_path_reads_the_usual_error_shapes(fake_provider, reply, expected, words):
    fake_provider.script = [reply]
    router = Router({"agent": RoleConfig(model="openai/fake", api_base=fake_provider.base_url, price=FREE)})

    with pytest.raises(expected, match=words):
        router.complete("agent", MESSAGES)
    assert fake_provider.count == 1


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (error(408, "request timeout"), LLMTimeout),
        (error(409, "busy"), ServerError),
        (Reply(502, raw=b"<html>502 Bad Gateway</html>"), ServerError),  # a proxy's error page
        (Reply(503, raw=b""), ServerError),
    ],
)
def test_transient_failures_are_the_same_class_on_both_paths(fake_provider, make_router, reply, expected):
    fake_provider.script = [reply, Reply(body=completion("back"))]
    router = make_router()

    assert router.complete("agent", MESSAGES).text == "back"  # retried

    fake_provider.default = reply
    with pytest.raises(RetriesExhausted) as caught:
        router.complete("agent", MESSAGES)
    assert type(caught.value.last) is expected
