"""The caching fakes enforce the providers' rules, so that what the other tests and the cache_savings benchmark
measure against them is earned: a marked prefix must match, be long enough, be marked within the limit and be
fresh, or it is paid in full."""

from __future__ import annotations

import pytest

from tests.support.cache_fakes import AnthropicCache, Block, CacheRuleError, Clock, OpenAICache

MARK = {"type": "ephemeral"}


def _blocks(*sizes: int, marks: tuple[int, ...] = (), ttl: str = "5m", salt: str = "") -> list[Block]:
    """Blocks of `sizes` tokens, marked at the indexes in `marks`."""
    control = MARK if ttl == "5m" else {"type": "ephemeral", "ttl": ttl}
    return [
        Block(" ".join(f"{salt}b{i}w{j}" for j in range(size)), control if i in marks else None)
        for i, size in enumerate(sizes)
    ]


def test_a_marked_prefix_is_written_then_read() -> None:
    cache = AnthropicCache(Clock())
    first = cache.bill("m", _blocks(1200, 10, marks=(0,)), 1)
    second = cache.bill("m", _blocks(1200, 20, marks=(0,)), 1)

    assert (first["cache_creation_input_tokens"], first["input_tokens"]) == (1200, 10)
    assert (second["cache_read_input_tokens"], second["cache_creation_input_tokens"], second["input_tokens"]) == (
        1200,
        0,
        20,
    )


def test_a_prefix_under_1024_tokens_is_never_cached() -> None:
    cache = AnthropicCache(Clock())
    for _ in range(2):
        usage = cache.bill("m", _blocks(1000, 10, marks=(1,)), 1)
        assert (usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]) == (0, 0)


def test_a_changed_block_before_the_mark_misses_and_another_model_has_its_own_cache() -> None:
    cache = AnthropicCache(Clock())
    cache.bill("m", _blocks(1200, 10, marks=(0,)), 1)

    assert cache.bill("m", _blocks(1200, 10, marks=(0,), salt="x"), 1)["cache_read_input_tokens"] == 0
    assert cache.bill("other", _blocks(1200, 10, marks=(0,)), 1)["cache_read_input_tokens"] == 0


def test_five_marks_or_a_one_hour_mark_after_a_five_minute_one_are_refused() -> None:
    cache = AnthropicCache(Clock())
    with pytest.raises(CacheRuleError, match="maximum of 4"):
        cache.bill("m", _blocks(*[300] * 5, marks=(0, 1, 2, 3, 4)), 1)
    mixed = [Block("a " * 1100, MARK), Block("b " * 10, {"type": "ephemeral", "ttl": "1h"})]
    with pytest.raises(CacheRuleError, match="must not come after"):
        cache.bill("m", mixed, 1)


def test_entries_expire_after_their_ttl_unless_read() -> None:
    clock = Clock()
    cache = AnthropicCache(clock)
    cache.bill("m", _blocks(1200, 10, marks=(0,)), 1)
    clock.advance(299)
    assert cache.bill("m", _blocks(1200, 10, marks=(0,)), 1)["cache_read_input_tokens"] == 1200  # refreshed
    clock.advance(299)
    assert cache.bill("m", _blocks(1200, 10, marks=(0,)), 1)["cache_read_input_tokens"] == 1200
    clock.advance(301)
    assert cache.bill("m", _blocks(1200, 10, marks=(0,)), 1)["cache_read_input_tokens"] == 0


def test_a_hit_is_found_only_within_20_blocks_before_a_mark() -> None:
    cache = AnthropicCache(Clock())
    cache.bill("m", _blocks(1100, marks=(0,)), 1)
    near = _blocks(1100, *[1] * 19, marks=(19,))
    far = _blocks(1100, *[1] * 20, marks=(20,))

    assert cache.bill("m", far, 1)["cache_read_input_tokens"] == 0
    assert cache.bill("m", near, 1)["cache_read_input_tokens"] == 1100


def _request(words: int, salt: str = "") -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": " ".join(f"{salt}w{i}" for i in range(words))}]}


def test_openai_style_caching_reads_in_128_token_steps_from_1024() -> None:
    clock = Clock()
    cache = OpenAICache(clock)
    assert cache.usage(_request(1000), 1)["prompt_tokens_details"]["cached_tokens"] == 0
    assert cache.usage(_request(1000), 1)["prompt_tokens_details"]["cached_tokens"] == 0  # under 1,024: never
    cache.usage(_request(1500), 1)
    # 1 role token + 1,500 words; the repeat reads the largest 1,024 + k * 128 prefix it holds
    assert cache.usage(_request(1600), 1)["prompt_tokens_details"]["cached_tokens"] == 1024 + 3 * 128
    assert cache.usage(_request(1600, salt="x"), 1)["prompt_tokens_details"]["cached_tokens"] == 0
    clock.advance(301)
    assert cache.usage(_request(1600), 1)["prompt_tokens_details"]["cached_tokens"] == 0
