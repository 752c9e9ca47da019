"""A scripted OpenAI-compatible model that solves HumanEval tasks by calling the dgm-initial agent's tools.

It reads the conversation like a (very narrow) real model: the task's function name from the first user
message, how far it got from the tool results so far. With `tools` in the request it answers with native
`tool_calls`; `refuse_tools` makes it answer such requests with HTTP 400, as a server without tool support
does, and then it writes `<tool_call>` blocks for the agent's text protocol instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from opendgm.agents.contract import REPO_DIR
from opendgm.evaluators.humaneval import HumanEval
from tests.support.llm_fakes import FakeProvider, Reply, completion, error

ENTRY_POINT = re.compile(r"Complete the function `(\w+)`")
SOLUTION = f"{REPO_DIR}/solution.py"
PROBE = "cd /tmp && export PROBE=kept"  # the next call shows whether the shell kept both
SHOW_PROBE = 'echo "$PROBE in $(pwd)"'
PROBE_KEPT = "kept in /tmp\n"
TOOLS_REFUSED = "this model does not support tools"


class ToolCallingModel(FakeProvider):
    def __init__(self, refuse_tools: bool = False) -> None:
        super().__init__()
        self.refuse_tools = refuse_tools
        self.solutions = {
            p["entry_point"]: p["prompt"] + p["canonical_solution"] for p in HumanEval()._problems().values()
        }

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append({"headers": headers, "body": body})
        native = "tools" in body
        if native and self.refuse_tools:
            return error(400, f"{TOOLS_REFUSED} (tool_choice given)")
        messages = body["messages"]
        task = next(m["content"] for m in messages if m["role"] == "user")
        plan = self.plan(ENTRY_POINT.search(task).group(1), native)
        turn = sum(1 for m in messages if m["role"] == "assistant")
        calls = plan[turn] if turn < len(plan) else []
        if not calls:
            return Reply(body=completion("The function is implemented and imports cleanly.", 200, 20))
        if not native:
            block = json.dumps({"name": calls[0][0], "arguments": calls[0][1]})
            return Reply(body=completion(f"Next step.\n<tool_call>{block}</tool_call>", 200, 40))
        answer = completion(None, 200, 40)
        answer["choices"][0]["finish_reason"] = "tool_calls"
        answer["choices"][0]["message"]["tool_calls"] = [
            {"id": f"call_{turn}_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in enumerate(calls)
        ]
        return Reply(body=answer)

    def plan(self, entry_point: str, native: bool) -> list[list[tuple[str, dict[str, Any]]]]:
        """The tool calls of each reply; natively the edit and its check come as one reply with two calls."""
        edit = ("editor", {"command": "edit", "path": SOLUTION, "file_text": self.solutions[entry_point]})
        check = ("bash", {"command": f"cd {REPO_DIR} && python3 -c 'import solution'"})
        probe = [[("bash", {"command": PROBE})], [("bash", {"command": SHOW_PROBE})]]
        view = [("editor", {"command": "view", "path": SOLUTION})]
        return [*probe, view, [edit, check]] if native else [*probe, view, [edit], [check]]
