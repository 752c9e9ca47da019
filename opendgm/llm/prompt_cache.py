"""Cache breakpoints for providers that cache only where asked (Anthropic), added by the host to a request as it
leaves, never by agents: agent code stays provider-agnostic, and an agent's own `cache_control` is refused at the
gateway (`chat_request`), so an agent can neither exceed the provider's limit of marks nor buy dearer writes.

Anthropic caches a prefix of the prompt (tools, then system, then messages) that ends at a block marked
`cache_control`: at most 4 marks a request, only prefixes of at least 1,024 tokens (2,048 on Haiku), for 5 minutes
(or 1 hour) after their last use. A read costs 0.1x the input price, a write 1.25x (2x for 1-hour entries). An
agent's loop re-sends its whole conversation with a few messages appended, so three marks cover it:

1. the end of the stable head: the last leading system message, or the last tool when there is none (tools come
   first in the prefix, so a system mark covers them too);
2. the end of the previous request: the message before the last assistant message, which the previous call marked
   and wrote, so this call reads everything up to there;
3. the end of this request (its last message), written now for the next call to read.

Providers that cache automatically (OpenAI, DeepSeek, vLLM, llama.cpp) need no marks, only prefixes that do not
change between calls; the host sends the agent's messages as they came, and puts nothing varying ahead of them.
The replay store keys on the request as the agent sent it, before this decoration (`router.py`).
"""

from __future__ import annotations

from typing import Any

WRITE_PREMIUM = {"5m": 1.25, "1h": 2.0}  # Anthropic's price of a cache write, as a multiple of the input price
_HEAD_ROLES = ("system", "developer")


def decorate(request: dict[str, Any], ttl: str) -> dict[str, Any]:
    """A copy of the chat `request` with cache breakpoints; `request` itself is left as it was."""
    mark = {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral", "ttl": ttl}
    messages = list(request["messages"])
    head = 0
    while head < len(messages) and messages[head].get("role") in _HEAD_ROLES:
        head += 1
    assistants = [i for i, message in enumerate(messages) if message.get("role") == "assistant"]
    chosen = {head - 1, (assistants[-1] - 1) if assistants else -1, len(messages) - 1}
    for index in sorted(i for i in chosen if i >= 0):
        messages[index] = _marked(messages[index], mark)
    decorated = {**request, "messages": messages}
    tools = request.get("tools")
    if head == 0 and tools:
        decorated["tools"] = [*tools[:-1], {**tools[-1], "cache_control": mark}]
    return decorated


def _marked(message: dict[str, Any], mark: dict[str, str]) -> dict[str, Any]:
    """`message` with a breakpoint on its last block (unchanged when it has no block that can carry one)."""
    calls = message.get("tool_calls")
    if calls:  # the tool-use blocks follow the text: the last of them ends the message
        return {**message, "tool_calls": [*calls[:-1], {**calls[-1], "cache_control": mark}]}
    content = message.get("content")
    if isinstance(content, list) and content and str(content[-1].get("text", "")).strip():
        return {**message, "content": [*content[:-1], {**content[-1], "cache_control": mark}]}
    if isinstance(content, str) and content.strip():  # Anthropic refuses a mark on an empty text block
        return {**message, "cache_control": mark}
    return message
