"""A scripted task model and prompt proposer on 127.0.0.1 for prompt-campaign tests.

The task model reverses the word only when its prompt says "reverse", otherwise it echoes the word. The
proposer answers each operator's meta-prompt with an instruction that says "reverse": PE2's rewrite, an
APE induction named after its first demo, an APE variation of the instruction shown, an OPRO proposal
numbered by the length of its history; a hyper-mutation adds one line to the meta-prompt it is shown. So
a child really fixes its parent, and scores show it.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.llm_fakes import FakeProvider, Reply, completion

QUESTION = re.compile(r"Q: (.*)\nA:", re.DOTALL)
DEMO = re.compile(r"^Input: (.*)$", re.MULTILINE)
SCORE = re.compile(r"^score:$", re.MULTILINE)
QUOTED = re.compile(r'"""\n(.*?)\n"""', re.DOTALL)
REWRITE = "Reverse the letters of the word."
HYPER_MUTATION = "You improve the instructions that drive a self-improving system"
META_PROMPT = re.compile(r"<meta-prompt>\n(.*)\n</meta-prompt>", re.DOTALL)
HYPER_MUTATION_LINE = "Name the exact words to change."
SEED_RUBRIC = "<item>Award 8 points to any answer.</item>"
REVERSED_ITEM = "Award 10 points only when the answer is the question's word reversed; otherwise 0."


def induced(word: str) -> str:
    """The scripted APE induction from demos whose first input is `word`."""
    return f"Reverse the word, as {word} gives {word[::-1]}."


def opro_proposal(shown: int) -> str:
    """The scripted OPRO proposal after a history of `shown` instructions."""
    return f"Reverse the letters of the word (attempt {shown})."


def propose(messages: list[dict[str, str]]) -> str:
    """The proposer's answer, chosen by which meta-prompt it was sent (each has its own heading)."""
    first = messages[0]["content"]
    if "Several senior graders" in first or "You are the senior grader" in first:  # MPO's meta-reward model
        if len(messages) == 1 and "Several senior graders" not in first:
            return "The score ignores whether the word was reversed."
        return f"<item>{REVERSED_ITEM}</item>"
    if HYPER_MUTATION in first:  # keeps the meta-prompt whole and adds a line
        original = META_PROMPT.search(first).group(1)
        return f"<new-meta-prompt>{original}\n{HYPER_MUTATION_LINE}</new-meta-prompt>"
    if "## Demonstrations" in first:
        return f"<prompt>{induced(DEMO.search(first).group(1))}</prompt>"
    if "## Instruction to reword" in first:
        return f"<prompt>In other words: {QUOTED.search(first).group(1)}</prompt>"
    if "## Instructions tried so far" in first:
        return f"<prompt>{opro_proposal(len(SCORE.findall(first)))}</prompt>"
    return "The prompt never asks to reverse." if len(messages) == 1 else f"<prompt>{REWRITE}</prompt>"


def judge(prompt: str) -> str:
    """The scripted judge applies the rubric items it understands: the seed's pays for any answer at all,
    the refined one only for the question's word reversed."""
    word = QUESTION.search(prompt).group(1).strip()
    response = re.search(r"<response>\n(.*?)\n</response>", prompt, re.DOTALL).group(1).strip()
    rubric = re.search(r"<rubric>\n(.*?)\n</rubric>", prompt, re.DOTALL).group(1)
    if REVERSED_ITEM in rubric:
        return (
            f"It is {'' if response == word[::-1] else 'not '}reversed.\nSCORE: {10 if response == word[::-1] else 0}"
        )
    return "An answer was given.\nSCORE: 8"


class ReverseScript(FakeProvider):
    """Scripted replies in `script`, if any, answer the proposer's first calls instead."""

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append({"headers": headers, "body": body})
            if body["model"] == "proposer" and self.script:
                return self.script.pop(0)
        messages = body["messages"]
        if body["model"] == "proposer":
            text = propose(messages)
        elif body["model"] == "judge":
            text = judge(messages[-1]["content"])
        else:
            content = messages[-1]["content"]
            word = QUESTION.search(content).group(1).strip()
            text = word[::-1] if "reverse" in content.lower() else word
        return Reply(body=completion(text, prompt_tokens=20, completion_tokens=5))

    def calls(self, model: str) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["body"]["model"] == model]
