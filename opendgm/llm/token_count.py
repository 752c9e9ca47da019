"""Prompt tokens as litellm counts them, without importing litellm (seconds of imports) where its rule is plain.

For a model litellm knows nothing about (no price-map entry, no tokenizer of its own, no OpenAI-looking name, as
every self-hosted `openai/<name>` of ours), `litellm.token_counter` counts with tiktoken's `cl100k_base` in
1024-character chunks: 3 tokens per message, each string field's tokens (+1 for a `name`), the arguments of
each tool call, and 3 for the reply's primer. `count` does that arithmetic only for such a model and such
plain messages (string fields, tool calls; no tools offered, no content parts, no litellm knob set in the
environment) and hands everything else to litellm. `tests/llm/test_token_count.py` holds it to litellm's
figures.

The encoding is the file litellm bundles (what it points tiktoken's cache at), read locally: tiktoken never
downloads it. Without that file, litellm counts.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opendgm.llm import price_map

ENCODING = "cl100k_base"
CHUNK_CHARS = 1024  # litellm's TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS default: each chunk is encoded on its own
EXACT_CHARS = 4_000_000  # litellm's TOKEN_COUNTER_MAX_EXACT_CHARS default: a longer text is extrapolated
PER_MESSAGE, PER_NAME, REPLY_PRIMER = 3, 1, 3
# The bundled copy of tiktoken's cl100k_base file, named as tiktoken's cache names it (sha1 of its URL).
_BUNDLED_DIR = "litellm_core_utils/tokenizers"
_BUNDLED_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
# Environment knobs that change litellm's count or where it reads the encoding from: with any set, litellm counts.
_KNOBS = ("TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS", "TOKEN_COUNTER_MAX_EXACT_CHARS", "CUSTOM_TIKTOKEN_CACHE_DIR")
# Names litellm may give a tokenizer of their own or an OpenAI encoding other than cl100k_base.
_OWN_TOKENIZER = re.compile(r"claude|anthropic|command|cohere|deepseek|llama-[23]|replicate|gpt|0301", re.IGNORECASE)
_OPENAI_RELEASE = re.compile(r"^(o\d|chatgpt|ft:|text-|davinci|babbage|curie|ada|code-)", re.IGNORECASE)


def plain(model: str) -> bool:
    """True when litellm certainly counts `model`'s prompts with cl100k_base and the default message constants."""
    if not model or _OWN_TOKENIZER.search(model) or any(os.environ.get(knob) for knob in _KNOBS):
        return False
    segments = model.split("/")
    if any(_OPENAI_RELEASE.match(segment) or _tiktoken_knows("/".join(segments[i:])) for i, segment in
           enumerate(segments)):  # fmt: skip
        return False
    return price_map.unmapped(model)


def count(model: str, messages: Sequence[Any], tools: list[dict[str, Any]] | None) -> int | None:
    """The prompt's tokens as litellm counts them, or None when the rule is not plain (litellm must count)."""
    if tools or not plain(model):
        return None
    encode = _encoder()
    if encode is None:
        return None
    total = REPLY_PRIMER
    for message in messages:
        counted = _message(message, encode)
        if counted is None:
            return None
        total += counted
    return total


def _message(message: object, encode: Callable[[str], int]) -> int | None:
    if not isinstance(message, Mapping):
        return None
    total = PER_MESSAGE
    for key, value in message.items():
        if value is None:
            continue
        if key == "tool_calls":
            if not isinstance(value, list) or not all(
                isinstance(call, Mapping) and isinstance(call.get("function"), Mapping) for call in value
            ):
                return None
            texts = [str(call["function"].get("arguments", "")) for call in value]
        elif key in ("function_call", "provider_specific_fields") or (
            key in ("content", "search_results") and isinstance(value, list)
        ):
            return None
        elif isinstance(value, str):
            texts = [value]
            total += PER_NAME if key == "name" else 0
        else:
            continue  # litellm skips what it does not count
        for text in texts:
            if len(text) > EXACT_CHARS:
                return None
            total += sum(encode(text[start : start + CHUNK_CHARS]) for start in range(0, len(text), CHUNK_CHARS))
    return total


def _tiktoken_knows(name: str) -> bool:
    from tiktoken.model import encoding_name_for_model

    try:
        encoding_name_for_model(name)
    except KeyError:
        return False
    return True


@functools.cache
def _encoder() -> Callable[[str], int] | None:
    """Token count of one text with the bundled cl100k_base; None when litellm's copy of the file is absent."""
    spec = importlib.util.find_spec("litellm")
    locations = spec.submodule_search_locations if spec is not None else None
    folder = Path(next(iter(locations)), _BUNDLED_DIR) if locations else None
    if folder is None or not (folder / _BUNDLED_FILE).is_file():
        return None
    import tiktoken

    os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)  # what importing litellm sets: the bundled copy, never a download
    encoding = tiktoken.get_encoding(ENCODING)
    return lambda text: len(encoding.encode(text, disallowed_special=()))
