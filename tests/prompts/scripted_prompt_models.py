"""A scripted task model and PE2 proposer on 127.0.0.1 for prompt-campaign tests.

The task model reverses the word only when its prompt says "reverse", otherwise it echoes the word; the
proposer's rewrite says "reverse". So a PE2 child really fixes its parent, and scores show it.
"""

from __future__ import annotations

import re
from typing import Any

from llm_fakes import FakeProvider, Reply, completion

QUESTION = re.compile(r"Q: (.*)\nA:", re.DOTALL)
REWRITE = "Reverse the letters of the word."


class ReverseScript(FakeProvider):
    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append({"headers": headers, "body": body})
        messages = body["messages"]
        if body["model"] == "proposer":
            text = "The prompt never asks to reverse." if len(messages) == 1 else f"<prompt>{REWRITE}</prompt>"
        else:
            content = messages[-1]["content"]
            word = QUESTION.search(content).group(1).strip()
            text = word[::-1] if "reverse" in content.lower() else word
        return Reply(body=completion(text, prompt_tokens=20, completion_tokens=5))

    def calls(self, model: str) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["body"]["model"] == model]
