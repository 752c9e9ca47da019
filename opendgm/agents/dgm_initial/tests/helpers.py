"""A scripted model for this agent's tests."""

from __future__ import annotations

import json
import shutil
import tempfile
import unittest
from pathlib import Path
from typing import Any


def scratch(test: unittest.TestCase) -> Path:
    """A fresh folder, removed when the test ends."""
    path = Path(tempfile.mkdtemp(prefix="agent-test-"))
    test.addCleanup(shutil.rmtree, path, True)
    return path


class ModelError(Exception):
    """Stands in for gateway_client.GatewayError: an HTTP status, a message and an error type."""

    def __init__(self, status: int, message: str, kind: str | None = None) -> None:
        super().__init__(f"gateway HTTP {status}: {message}")
        self.status, self.kind = status, kind


def answer(content: str | None = None, *calls: tuple[str, dict[str, Any]], tokens: int = 10) -> dict[str, Any]:
    """An OpenAI-format chat completion with optional native tool calls (name, arguments)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)
        ]
    return {"choices": [{"message": message, "finish_reason": "stop"}], "usage": {"total_tokens": tokens}}


class ScriptedModel:
    """A chat function answering from a list (an exception in the list is raised); it keeps every request."""

    def __init__(self, *replies: dict[str, Any] | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        self.requests.append({"messages": json.loads(json.dumps(messages)), **params})
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply
