"""Fake providers that cache prompts by the providers' published rules, on 127.0.0.1.

- `AnthropicCache` + `FakeAnthropic`: a Messages API server (`POST /v1/messages`) with explicit caching. A prefix
  is cached only where a block carries `cache_control` (at most 4 such blocks, else 400), only if the prefix up to
  it holds at least 1,024 tokens, for its time to live (5 minutes, or 1 hour with `ttl: "1h"`; a 1-hour block may
  not follow a 5-minute one), refreshed by every hit. A request reads the longest cached prefix that ends at a
  block boundary within 20 blocks before one of its breakpoints, writes what lies between that and its last
  cacheable breakpoint, and pays the rest as plain input. The prefix runs tools, then system, then messages.
- `OpenAICache`: automatic caching, for `llm_fakes.FakeProvider.prompt_cache`. Every prompt of at least 1,024
  tokens is cached, in steps of 128 tokens; a request reads its longest cached prefix (reported as
  `usage.prompt_tokens_details.cached_tokens`); entries live 5 minutes after their last use.

A token here is a whitespace-separated word of a block's text (tools and tool calls as JSON), so a test can count
them by hand. The clock is injectable, so a test moves time instead of sleeping. Savings measured against these
fakes are not self-fulfilling: a request whose prefix changed, whose breakpoints are missing or too many, whose
prefix is too short or whose entry expired pays full price, as it would at the provider.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.llm_fakes import SECRET, FakeProvider, Reply

MIN_TOKENS = 1024
MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
TTL_S = {"5m": 300.0, "1h": 3600.0}
OPENAI_STEP = 128
OPENAI_TTL_S = 300.0


def words(text: str) -> int:
    """Tokens of `text` as these fakes count them."""
    return len(text.split())


class CacheRuleError(Exception):
    """A request the provider refuses (400) for breaking a caching rule."""


@dataclass(frozen=True)
class Block:
    """One content block of the prompt prefix, as the provider bills it."""

    text: str
    cache_control: dict[str, Any] | None = None


class AnthropicCache:
    """Anthropic's explicit prompt cache, shared by every request to one fake."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, tuple[float, float]] = {}  # prefix hash -> (expires at, time to live)

    def bill(self, model: str, blocks: list[Block], output_tokens: int) -> dict[str, Any]:
        """The usage Anthropic reports for a request with these prefix blocks (and updates the cache)."""
        marks = [i for i, block in enumerate(blocks) if block.cache_control is not None]
        if len(marks) > MAX_BREAKPOINTS:
            raise CacheRuleError(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(marks)}."
            )
        ttls = [_ttl(blocks[i]) for i in marks]
        if any(a == "5m" and b == "1h" for a, b in itertools.pairwise(ttls)):
            raise CacheRuleError("a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block")
        now = self.clock()
        self._entries = {key: entry for key, entry in self._entries.items() if entry[0] > now}
        hashes, lengths = _prefixes(model, blocks)
        hit = max(
            (
                next((j for j in range(mark, max(mark - LOOKBACK_BLOCKS, -1), -1) if hashes[j] in self._entries), -1)
                for mark in marks
            ),
            default=-1,
        )
        read = lengths[hit] if hit >= 0 else 0
        if hit >= 0:
            self._entries[hashes[hit]] = (now + self._entries[hashes[hit]][1], self._entries[hashes[hit]][1])
        written = {"5m": 0, "1h": 0}
        end = read
        for mark, ttl in zip(marks, ttls, strict=True):
            if lengths[mark] < MIN_TOKENS:
                continue  # too short to cache: no error, no charge, no entry
            self._entries[hashes[mark]] = (now + TTL_S[ttl], TTL_S[ttl])
            if mark > hit:
                written[ttl] += lengths[mark] - end
                end = lengths[mark]
        total = lengths[-1] if lengths else 0
        write = written["5m"] + written["1h"]
        return {
            "input_tokens": total - read - write,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
            "cache_creation": {"ephemeral_5m_input_tokens": written["5m"], "ephemeral_1h_input_tokens": written["1h"]},
            "output_tokens": output_tokens,
        }


def _ttl(block: Block) -> str:
    control = block.cache_control or {}
    if control.get("type") != "ephemeral":
        raise CacheRuleError(f"cache_control.type must be 'ephemeral', got {control.get('type')!r}")
    ttl = control.get("ttl", "5m")
    if ttl not in TTL_S:
        raise CacheRuleError(f"cache_control.ttl must be '5m' or '1h', got {ttl!r}")
    if not block.text.strip():
        raise CacheRuleError("cache_control cannot be set for empty text blocks")
    return ttl


def _prefixes(model: str, blocks: list[Block]) -> tuple[list[str], list[int]]:
    """The hash and the token count of the prefix ending with each block."""
    digest = hashlib.sha256(model.encode())
    hashes, lengths, total = [], [], 0
    for block in blocks:
        digest.update(b"\x00" + block.text.encode())
        total += words(block.text)
        hashes.append(digest.copy().hexdigest())
        lengths.append(total)
    return hashes, lengths


def anthropic_blocks(body: dict[str, Any]) -> list[Block]:
    """The prefix of a Messages API request: tools, then system, then each message's content blocks."""
    blocks = [
        Block(
            json.dumps({k: v for k, v in tool.items() if k != "cache_control"}, sort_keys=True),
            tool.get("cache_control"),
        )
        for tool in body.get("tools") or []
    ]
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(Block(system))
    else:
        blocks += [Block(part["text"], part.get("cache_control")) for part in system or []]
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            blocks.append(Block(content))
            continue
        blocks += [Block(_block_text(part), part.get("cache_control")) for part in content]
    return blocks


def _block_text(part: dict[str, Any]) -> str:
    kind = part["type"]
    if kind == "text":
        return part["text"]
    if kind == "tool_use":
        return json.dumps({"name": part["name"], "input": part["input"]}, sort_keys=True)
    if kind == "tool_result":
        content = part.get("content") or ""
        return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    raise CacheRuleError(f"the fake does not bill {kind!r} blocks")


class FakeAnthropic(FakeProvider):
    """An Anthropic Messages API on loopback that bills by `AnthropicCache`; it answers `reply_text` (or what
    `script` holds: `Reply` objects as for the OpenAI fake, status and body as given).

    Requests need `x-api-key: <SECRET>` and an `anthropic-version` header, like the real API.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.cache = AnthropicCache(clock)
        self.reply_text = "ok"
        self.usages: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        if headers.get("x-api-key") != SECRET or "anthropic-version" not in headers:
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        if self.script:
            return self.script.pop(0)
        try:
            usage = self.cache.bill(body["model"], anthropic_blocks(body), words(self.reply_text))
        except CacheRuleError as exc:
            return _anthropic_error(400, "invalid_request_error", str(exc))
        self.usages.append(usage)
        message = {
            "id": f"msg_fake{len(self.usages)}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": self.reply_text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        return Reply(body=message)


def _anthropic_error(status: int, kind: str, message: str) -> Reply:
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}})


class OpenAICache:
    """OpenAI's automatic prefix cache: `usage(request, completion_tokens)` is the usage a chat completion reports."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, float] = {}  # prefix hash -> expires at

    def usage(self, request: dict[str, Any], completion_tokens: int) -> dict[str, Any]:
        tokens = openai_tokens(request)
        now = self.clock()
        self._entries = {key: expires for key, expires in self._entries.items() if expires > now}
        digest = hashlib.sha256(request["model"].encode())
        cached, done = 0, 0
        for length in range(MIN_TOKENS, len(tokens) + 1, OPENAI_STEP):
            digest.update("\x00".join(tokens[done:length]).encode() + b"\x00")
            done = length
            key = digest.copy().hexdigest()
            if key in self._entries:
                cached = length
            self._entries[key] = now + OPENAI_TTL_S
        return {
            "prompt_tokens": len(tokens),
            "completion_tokens": completion_tokens,
            "total_tokens": len(tokens) + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
        }


def openai_tokens(request: dict[str, Any]) -> list[str]:
    """The prompt as OpenAI renders it for caching: tools first, then each message (role, text, tool calls)."""
    tokens = [word for tool in request.get("tools") or [] for word in json.dumps(tool, sort_keys=True).split()]
    for message in request["messages"]:
        tokens.append(f"<{message['role']}>")
        content = message.get("content") or ""
        text = content if isinstance(content, str) else " ".join(part.get("text", "") for part in content)
        tokens += text.split()
        if message.get("tool_calls"):
            tokens += json.dumps(message["tool_calls"], sort_keys=True).split()
    return tokens


class Clock:
    """A clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
