"""Managed local servers reuse repeated prompt prefixes: vLLM by its launch flags (no GPU here: checked through the
command), llama.cpp for real on the embedded model, measured in prompt tokens the server evaluated (not time)."""

from __future__ import annotations

import shutil

import pytest

from opendgm.llm import LocalServer, LocalServerConfig, Router


@pytest.fixture
def vllm_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """`vllm` and `nvidia-smi` on PATH, as on a GPU host, so the command can be built."""
    found = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name: f"/usr/bin/{name}" if name in ("vllm", "nvidia-smi") else found(name)
    )


@pytest.mark.usefixtures("vllm_here")
def test_a_managed_vllm_server_is_launched_with_prefix_caching_and_cached_token_counts():
    command = LocalServer(LocalServerConfig(kind="vllm", model="some/model")).command()
    off = LocalServer(LocalServerConfig(kind="vllm", model="some/model", prefix_cache=False)).command()

    assert command[:3] == ["vllm", "serve", "some/model"]
    assert {"--enable-prefix-caching", "--enable-prompt-tokens-details"} <= set(command)
    assert "--no-enable-prefix-caching" in off and "--enable-prefix-caching" not in off


@pytest.mark.usefixtures("embedded_model")  # the command names the packaged GGUF
def test_the_llama_cpp_server_keeps_recent_prompt_states_in_ram():
    command = LocalServer(LocalServerConfig(prefix_cache_mb=64)).command()
    at = command.index("--cache")

    assert command[at : at + 6] == ["--cache", "true", "--cache_type", "ram", "--cache_size", str(64 * 2**20)]
    assert "--cache" not in LocalServer(LocalServerConfig(prefix_cache=False)).command()


@pytest.mark.model
def test_llama_cpp_evaluates_a_repeated_prefix_once_even_when_prompts_take_turns(llama_server):
    """Two agents take turns on one server: each one's second call evaluates only its new tokens, the rest is read
    from the server's cache (the last prompt's, or a state kept in RAM), and the ledger records it as cached."""
    router = Router({"agent": llama_server.role(max_tokens=2, temperature=0)})
    prefixes = {
        name: [{"role": "system", "content": " ".join(f"{name} rule {i}: keep the {word} tidy." for i in range(30))}]
        for name, word in (("alpha", "garden"), ("beta", "kitchen"))
    }

    calls = [
        router.complete("agent", prefixes[name] + [{"role": "user", "content": f"Question {n}?"}])
        for n, name in enumerate(["alpha", "beta", "beta", "alpha"])
    ]

    evaluated = [call.response["timings"]["prompt_n"] for call in calls]
    prompts = [call.call.prompt_tokens for call in calls]
    assert min(prompts) > 300
    assert evaluated[0] > 0.9 * prompts[0] and evaluated[1] > 0.9 * prompts[1], evaluated  # new prefixes
    assert evaluated[2] < 0.05 * prompts[2], evaluated  # right after its own prefix: the server's last state
    assert evaluated[3] < 0.05 * prompts[3], evaluated  # after the other agent's turn: its state came from RAM
    rows = router.ledger.calls()
    assert [row.cache_read_tokens for row in rows] == [p - e for p, e in zip(prompts, evaluated, strict=True)]
    assert calls[3].response["usage"]["prompt_tokens_details"]["cached_tokens"] == rows[3].cache_read_tokens
