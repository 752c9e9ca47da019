"""A scripted model for campaign tests: its diagnosis and self-modification really add a capability, and
so does its PE2 rewrite of a prompt file (it asks the task model for bash blocks).

The "task model" only ever answers with ```python blocks, which the seed agent cannot run (it parses
bash blocks), so the seed fails every task. The diagnosis asks for python-block support; during
self-modification the script patches `agent.py` to run ```python blocks; the child then solves the tasks.
"""

from __future__ import annotations

import re
from typing import Any

from opendgm.evaluators.humaneval import HumanEval
from tests.support.llm_fakes import FakeProvider, Reply, completion

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
# PE2's proposer (both turns) and PromptBreeder's hyper-mutation, recognised by their shipped prompts.
PE2_STEP_1 = "A prompt is a paragraph of text"
CURRENT_PROMPT = re.compile(r'## Current prompt\n"""\n(.*?)\n"""', re.DOTALL)
BASH_HINT = "Always answer with a bash block, never with a python block."
HYPER_MUTATION = "You improve the instructions that drive a self-improving system"
META_PROMPT = re.compile(r"<meta-prompt>\n(.*)\n</meta-prompt>", re.DOTALL)
HYPER_MUTATION_LINE = "Be concrete: name the exact change you want."


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
        if HYPER_MUTATION in first:  # keeps the meta-prompt and its placeholders, adds one line
            original = META_PROMPT.search(first).group(1)
            return say(f"<new-meta-prompt>{original}\n{HYPER_MUTATION_LINE}</new-meta-prompt>")
        if PE2_STEP_1 in first:
            if len(messages) == 1:
                return say("The prompt never says how to write code; the model answers with python blocks.")
            current = CURRENT_PROMPT.search(last).group(1)
            return say(f"<prompt>{current}\n{BASH_HINT}</prompt>")
        if messages[-1]["role"] == "user" and last.startswith("exit code: 0"):
            return say("Done.\n```bash\nsubmit\n```")
        if "source code of a coding agent" in conversation:
            return say(f"```bash\n{PATCH_AGENT}\n```")
        entry = ENTRY_POINT.search(conversation)
        if entry:
            code = f"open('solution.py', 'w').write({self.solutions[entry.group(1)]!r})"
            if BASH_HINT in conversation:  # a prompt that asks for bash gets bash, which the seed agent runs
                return say(f"```bash\npython3 - <<'PY'\n{code}\nPY\n```")
            return say(f"```python\n{code}\n```")
        return say("I do not know.")
