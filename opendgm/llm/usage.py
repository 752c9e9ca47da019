"""What a call used, as its provider reported it: prompt tokens (all of them), of which read from and written to
the provider's prompt cache, and completion tokens.

Providers report cache use in two shapes. OpenAI (and vLLM, llama.cpp's servers, OpenAI-compatible APIs) report
`usage.prompt_tokens_details.cached_tokens`, a part of `prompt_tokens`. Anthropic reports `cache_read_input_tokens`
and `cache_creation_input_tokens` beside its input tokens; litellm adds both into `prompt_tokens` and repeats them
in its OpenAI-shaped usage. `reported` reads both shapes.

A report is not believed blindly (a self-hosted server may be buggy or hostile): counts that are not counts make the
whole report unusable (`None`: the caller charges its conservative estimate), and cache counts are capped by the
prompt they are part of, so no report can make a call cost less than nothing.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, TypeGuard


class Usage(NamedTuple):
    """Tokens of one call; the cache counts are parts of `prompt_tokens`."""

    prompt_tokens: int
    completion_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


def reported(response: dict[str, Any]) -> Usage | None:
    """The usage `response` reports, or None when it reports none or one that cannot be believed."""
    usage = response.get("usage")
    if not isinstance(usage, dict) or "prompt_tokens" not in usage:
        return None
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    counts = (
        usage["prompt_tokens"],  # a null prompt count is no count: the call is charged its estimate
        usage.get("completion_tokens") or 0,
        _first(details.get("cached_tokens"), usage.get("cache_read_input_tokens")),
        _first(usage.get("cache_creation_input_tokens"), details.get("cache_creation_tokens")),
    )
    numbers = [count for count in counts if _is_count(count)]
    if len(numbers) < len(counts):
        return None
    prompt, completion, read, write = (int(count) for count in numbers)
    read = min(read, prompt)
    return Usage(prompt, completion, read, min(write, prompt - read))


def _first(*values: object) -> object:
    """The first value given (not None), else 0."""
    return next((value for value in values if value is not None), 0)


def _is_count(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
