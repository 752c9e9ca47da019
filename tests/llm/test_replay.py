"""Record / replay: a recorded exchange is served identically without a provider; a miss is loud."""

from __future__ import annotations

import pytest
import yaml

from opendgm.llm import (
    ConfigError,
    LLMConfig,
    Price,
    ReplayConfig,
    ReplayMiss,
    ReplayMode,
    ReplayStore,
    Router,
    request_key,
)
from tests.support.llm_fakes import MESSAGES, Reply, completion


def test_a_recorded_exchange_replays_identically_with_the_server_stopped(
    fake_provider, make_router, fake_role, tmp_path
):
    store = tmp_path / "replay.sqlite"
    fake_provider.script = [Reply(body=completion("recorded answer", 11, 4))]
    recorded = make_router(replay=ReplayStore(store, ReplayMode.RECORD)).complete("agent", MESSAGES, node="n")
    fake_provider.stop()

    # Another price now: a replayed call is charged what it cost when recorded.
    role = fake_role(price=Price(prompt=1, completion=1))
    router = make_router(role, replay=ReplayStore(store, ReplayMode.REPLAY))
    replayed = router.complete("agent", MESSAGES, node="n")

    assert replayed.response == recorded.response
    assert replayed.text == recorded.text == "recorded answer"
    row = router.ledger.calls()[-1]
    assert row.replayed and not recorded.call.replayed
    assert (row.prompt_tokens, row.completion_tokens, row.cost_usd) == (11, 4, recorded.call.cost_usd)
    assert row.request_hash == recorded.call.request_hash


def test_a_miss_in_replay_mode_fails_loudly_naming_the_hash(fake_provider, make_router, tmp_path):
    router = make_router(replay=ReplayStore(tmp_path / "replay.sqlite", ReplayMode.REPLAY))

    with pytest.raises(ReplayMiss) as caught:
        router.complete("agent", MESSAGES)

    assert router.ledger.calls()[-1].request_hash in str(caught.value)
    assert fake_provider.count == 0


def test_auto_mode_calls_once_then_serves_from_the_store(fake_provider, make_router, tmp_path):
    router = make_router(replay=ReplayStore(tmp_path / "replay.sqlite", ReplayMode.AUTO))

    first = router.complete("agent", MESSAGES)
    second = router.complete("agent", MESSAGES)
    other = router.complete("agent", MESSAGES, temperature=0.5)

    assert fake_provider.count == 2  # the repeat was served from the store, the variant was not
    assert second.response == first.response and second.call.replayed and not other.call.replayed


def test_the_request_key_is_canonical():
    request = {"model": "m", "messages": MESSAGES, "max_tokens": 5, "temperature": 0.0}
    reordered = dict(reversed(list(request.items())))

    assert request_key(request) == request_key(reordered)
    assert request_key(request) != request_key(request | {"temperature": 0.1})
    assert request_key(request) != request_key(request | {"model": "other"})


def test_a_config_file_switches_replay_on(fake_provider, fake_role, tmp_path):
    roles = {"agent": fake_role().model_dump(mode="json")}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"roles": roles, "replay": {"mode": "auto", "path": str(tmp_path / "r.sqlite")}}))

    router = Router.from_config(LLMConfig.from_yaml(path))
    router.complete("agent", MESSAGES)
    router.complete("agent", MESSAGES)

    assert fake_provider.count == 1
    with pytest.raises(ConfigError, match=r"replay\.path"):
        Router.from_config(LLMConfig(roles=router.roles, replay=ReplayConfig(mode=ReplayMode.REPLAY)))
