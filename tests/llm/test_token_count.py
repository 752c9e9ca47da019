"""The budget's prompt estimate counts a self-hosted model's prompt exactly as `litellm.token_counter` does, without
importing litellm or reaching the network; every other model or message shape is counted by litellm itself."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from opendgm.llm import token_count
from opendgm.llm.provider import count_tokens

# Self-hosted / OpenAI-compatible names of the suite and the examples, and names litellm has never heard of.
PLAIN = ["openai/scripted", "openai/local", "openai/fake", "openai/x", "openai/coder",
         "openai/Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-Coder-7B-Instruct", "m", "my-own-model",
         "hosted_vllm/some-model"]  # fmt: skip
# Names litellm counts with a tokenizer of their own, another encoding or other constants: litellm counts them.
LEFT_TO_LITELLM = ["gpt-4o", "openai/gpt-4o-mini", "openai/gpt-5-mini", "openai/o1-2024-12-17", "gpt-3.5-turbo-0301",
                   "anthropic/claude-sonnet-4-5", "claude-haiku-4-5", "deepseek-chat", "openai/llama-3-8b",
                   "command-r", "openai/o3-mini-2025-01-31", "text-embedding-3-small"]  # fmt: skip

TOOL = {"type": "function", "function": {"name": "bash", "description": "Run a command.",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}}}  # fmt: skip
CALL = {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": '{"cmd": "ls -la /tmp"}'}}
LONG = "def f(x):\n    return x * 2  # ünïcödé, 漢字, emoji 🙂\n" * 200  # crosses many 1024-character chunks
PROMPTS: dict[str, list[dict[str, Any]]] = {
    "user": [{"role": "user", "content": "hi there"}],
    "system-user": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Fix the bug."}],
    "empty": [{"role": "user", "content": ""}],
    "none-content": [{"role": "assistant", "content": None, "tool_calls": [CALL]}],
    "named": [{"role": "user", "name": "operator", "content": "diagnose"}],
    "tool-turn": [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": "", "tool_calls": [CALL, {**CALL, "id": "call_2"}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a\nb\nc"},
    ],
    "special-tokens": [{"role": "user", "content": "<|endoftext|> <|im_start|>system<|im_end|> <|fim_prefix|>"}],
    "long": [{"role": "system", "content": LONG}, {"role": "user", "content": LONG[:1500] + "x" * 3000}],
    "whitespace-at-chunk-edge": [{"role": "user", "content": " " * 1023 + "word" + "\n" * 2048}],
    "other-fields": [{"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}, "weight": 1}],
    "content-parts": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}]}],
}


def _litellm_count(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    from opendgm.llm.provider import _litellm

    return int(_litellm().token_counter(model=model, messages=messages, tools=tools))


@pytest.mark.parametrize("model", PLAIN)
def test_a_self_hosted_models_prompt_counts_as_litellm_counts_it(model: str) -> None:
    assert token_count.plain(model)
    for name, messages in PROMPTS.items():
        for tools in (None, [TOOL]):
            expected = _litellm_count(model, messages, tools)
            assert count_tokens(model, messages, tools) == expected, (name, tools is not None)
            if tools is None and name != "content-parts":
                assert token_count.count(model, messages, tools) == expected, name  # counted without litellm


@pytest.mark.parametrize("model", LEFT_TO_LITELLM)
def test_a_model_with_its_own_counting_rule_is_counted_by_litellm(model: str) -> None:
    assert not token_count.plain(model)
    for messages in (PROMPTS["system-user"], PROMPTS["long"]):
        assert token_count.count(model, messages, None) is None
        assert count_tokens(model, messages, None) == _litellm_count(model, messages, None)


def test_a_litellm_knob_in_the_environment_leaves_the_count_to_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS", "7")
    assert token_count.count("openai/scripted", PROMPTS["user"], None) is None


def test_counting_a_self_hosted_prompt_imports_no_litellm_and_never_downloads(tmp_path: Any) -> None:
    probe = (
        "import json, sys\nfrom opendgm.llm.provider import count_tokens\n"
        f"n = count_tokens('openai/scripted', {json.dumps(PROMPTS['tool-turn'])}, None)\n"
        "print(n, 'litellm' in sys.modules, 'requests' in sys.modules)"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "NO_PROXY": "*",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    counted, litellm_loaded, requests_loaded = done.stdout.split()
    assert int(counted) == _litellm_count("openai/scripted", PROMPTS["tool-turn"], None)
    assert (litellm_loaded, requests_loaded) == ("False", "False")
    assert not list(tmp_path.iterdir())  # no tiktoken cache written (a download would be cached under TMPDIR)
