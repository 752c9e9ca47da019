"""A scripted model for campaign tests: its diagnosis and self-modification really add a capability.

The "task model" only ever answers with ```python blocks, which the seed agent cannot run (it parses
bash blocks), so the seed fails every task. The diagnosis asks for python-block support; during
self-modification the script patches `agent.py` to run ```python blocks; the child then solves the tasks.
"""

from __future__ import annotations

import re
from typing import Any

from llm_fakes import FakeProvider, Reply, completion

from opendgm.evaluators.humaneval import HumanEval

DIAGNOSIS = (
    '{"diagnosis": "the model answers with python blocks the agent ignores", '
    '"improvement": "run python blocks", "problem_statement": "Make parse_action accept ```python blocks '
    'by running their code with python3."}'
)
# Run inside the sandbox during self-modification, in the agent's own repository.
# Run inside the sandbox during self-modification, in the agent's own repository. It may not contain three
# backticks in a row: the agent's own parser would end the command block there.
PATCH_AGENT = r"""python3 - <<'PY'
from pathlib import Path
agent = Path("agent.py")
text = agent.read_text()
old = '    match = ACTION.search(reply)\n    return match.group(1).strip() if match else None\n'
new = (
    '    match = ACTION.search(reply)\n'
    '    if match:\n'
    '        return match.group(1).strip()\n'
    '    fence = "`" * 3\n'
    '    python = re.search(fence + r"python[ \\t]*\\n(.*?)" + fence, reply, re.DOTALL)\n'
    '    return "python3 - <<\'PY\'\\n" + python.group(1) + "PY" if python else None\n'
)
assert old in text, "anchor not found"
agent.write_text(text.replace(old, new))
print("patched")
PY"""
ENTRY_POINT = re.compile(r"Complete the function `(\w+)`")


def say(text: str) -> Reply:
    return Reply(body=completion(text, prompt_tokens=50, completion_tokens=10))


class CapabilityScript(FakeProvider):
    """Answers by looking at the conversation, like a (very narrow) real model would."""

    def __init__(self) -> None:
        super().__init__()
        self.solutions = {
            p["entry_point"]: p["prompt"] + p["canonical_solution"] for p in HumanEval()._problems().values()
        }

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append({"headers": headers, "body": body})
        messages = body["messages"]
        first, last = messages[0]["content"], messages[-1]["content"]
        conversation = "\n".join(m["content"] for m in messages)
        if "You are improving a coding agent" in first:
            return say(DIAGNOSIS)
        if messages[-1]["role"] == "user" and last.startswith("exit code: 0"):
            return say("Done.\n```bash\nsubmit\n```")
        if "source code of a coding agent" in conversation:
            return say(f"```bash\n{PATCH_AGENT}\n```")
        entry = ENTRY_POINT.search(conversation)
        if entry:
            code = self.solutions[entry.group(1)]
            return say(f"```python\nopen('solution.py', 'w').write({code!r})\n```")
        return say("I do not know.")
