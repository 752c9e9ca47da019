"""The evidence a diagnosis meta-prompt is filled with, as DGM gives it to its diagnosis model, in a budget.

Parts (each a `$placeholder` of the diagnosis meta-prompts): `agent_summary` (the agent's design: its
notes file and a map of its files), `agent_code` (whole files only: when the code is over its share,
tests go first, then the largest files, and the dropped files are named), `lineage_patches` (the changes
that led from the seed to this agent), and for one task: `task_statement`, `outcome`, `trajectory`,
`patch`, `hidden_tests` (the tests the grader added: the meta model runs on the host and may see them,
the agent never does), `failed_tests` and `grading`. Special entries get `examples`: a few tasks, each
with its outcome, trajectory excerpt and patch.

The whole rendered prompt stays within `budget` characters (`self_improve.diagnosis_chars`): the fixed
parts take what they need up to their share, and the code and the trajectory (or the examples) share
everything left, so a larger budget shows more of the agent and of what it did.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Template

from opendgm.archive import CodeTree
from opendgm.evaluators import clip

NOTES_FILES = ("AGENT.md", "README.md")
SHARES = {"agent_summary": 0.1, "lineage_patches": 0.1, "patch": 0.06, "hidden_tests": 0.08, "grading": 0.04}
FAILED_TESTS_CHARS = 2000
SUMMARY_CHARS = 4000
TASK_STATEMENT_SHARE = 0.05
_FAILED_LINE = re.compile(r"^(FAILED|ERROR|FAIL:|ERROR:)\s.*$|^\s*\S+ \.\.\. (FAIL|ERROR)$|^--- FAIL.*$", re.MULTILINE)


def _rank(path: str, size: int) -> tuple[int, int, str]:
    """Which files go first when the code must be cut: tests, then the largest (prompts and notes last)."""
    is_test = path.startswith("tests/") or "/tests/" in path or path.rsplit("/", 1)[-1].startswith("test_")
    is_prompt = path.endswith((".md", ".txt")) or path.startswith("prompts/")
    return (0 if is_test else 2 if is_prompt else 1, -size, path)


def file_texts(code: CodeTree) -> dict[str, str]:
    """Each file of the agent as it is shown: its text, or a note for links and binary files."""
    files, links = code.files(), code.links()
    shown: dict[str, str] = {}
    for entry in code.entries():
        if entry.path in links:
            shown[entry.path] = f"## {entry.path} (a link to {links[entry.path]})"
            continue
        try:
            shown[entry.path] = f"## {entry.path}\n{files[entry.path].decode('utf-8')}"
        except (KeyError, UnicodeDecodeError):
            shown[entry.path] = f"## {entry.path} (binary)"
    return shown


def code_listing(code: CodeTree, limit: int | None = None) -> str:
    """The agent's files, whole, in path order; over `limit`, whole files are left out and named."""
    shown = file_texts(code)
    dropped: list[str] = []

    def render() -> str:
        kept = "\n\n".join(text for path, text in shown.items() if path not in dropped)
        if dropped:
            kept += f"\n\n(left out for length, whole: {', '.join(sorted(dropped))})"
        return kept

    order = sorted(shown, key=lambda path: _rank(path, len(shown[path])))
    while limit is not None and len(render()) > limit and len(dropped) < len(order):
        dropped.append(order[len(dropped)])
    return render()


def agent_summary(code: CodeTree) -> str:
    """The agent's design as it describes itself (its notes file) and a map of its files with their sizes."""
    files = code.files()
    notes = next((files[name].decode("utf-8", "replace") for name in NOTES_FILES if name in files), "")
    listing = "\n".join(f"- {path} ({len(data)} bytes)" for path, data in sorted(files.items()))
    summary = f"{notes.strip()}\n\nFiles:\n{listing}" if notes.strip() else f"Files:\n{listing}"
    return clip(summary, SUMMARY_CHARS)


def failed_tests(grading_log: str, counts: tuple[int | None, int | None] = (None, None)) -> str:
    """The tests the grader reported failing: SWE-bench's FAIL_TO_PASS/PASS_TO_PASS failures when its report is
    in the log, else the lines test runners print for failures, else the grader's (passed, failed) counts."""
    names: list[str] = []
    for match in re.finditer(r'"(FAIL_TO_PASS|PASS_TO_PASS)":\s*\{\s*"success":\s*\[.*?\],\s*"failure":\s*(\[.*?\])',
                             grading_log, re.DOTALL):  # fmt: skip
        try:
            names += [f"{match.group(1)}: {name}" for name in json.loads(match.group(2))]
        except json.JSONDecodeError:
            continue
    names = names or [match.group(0).strip() for match in _FAILED_LINE.finditer(grading_log)]
    if names:
        return clip("\n".join(names), FAILED_TESTS_CHARS)
    passed, failed = (count or 0 for count in counts)
    if not passed + failed:
        return "(no test ran on this attempt: see its outcome)"
    return f"{failed} of {failed + passed} hidden tests failed (the grading output names none)"


@dataclass(frozen=True)
class TaskEvidence:
    """What one task's attempt left: all raw, clipped to shares when the prompt is built."""

    task_id: str
    statement: str
    outcome: str
    trajectory: str
    patch: str
    grading: str
    hidden_tests: str
    counts: tuple[int | None, int | None] = (None, None)  # (tests passed, tests failed) per the grader


def lineage_patches(diffs: Sequence[tuple[str, str]]) -> str:
    """The changes from the seed to the agent, oldest first, each under the node that made it."""
    if not diffs:
        return "(none: this is the seed agent)"
    return "\n\n".join(f"### change made by {node}\n{diff or '(no change)'}" for node, diff in diffs)


def _room(meta_prompt: str, values: Mapping[str, str], budget: int, *flexible: str) -> int:
    """Characters left in `budget` once `meta_prompt` is rendered with `values` and the `flexible` parts empty."""
    return max(0, budget - len(Template(meta_prompt).safe_substitute({**values, **dict.fromkeys(flexible, "")})))


def _code_room(room: int, wanted: int) -> int:
    """The code's share of `room`: all that the other flexible part (of `wanted` characters) leaves, and at least
    half, so neither the code nor the trajectory crowds the other out."""
    return max(room - wanted, room // 2)


def task_values(
    meta_prompt: str, summary: str, code: CodeTree, lineage: str, evidence: TaskEvidence, budget: int
) -> dict[str, str]:
    """Every placeholder of a one-task diagnosis, within `budget`: the fixed parts clipped to their shares, then
    the code (whole files) and the trajectory share what is left."""
    sized = {
        "agent_summary": summary,
        "lineage_patches": lineage,
        "task_statement": evidence.statement,
        "patch": evidence.patch or "(empty: the agent changed nothing)",
        "hidden_tests": evidence.hidden_tests or "(none recorded for this task)",
        "grading": evidence.grading or "(none)",
    }
    values = {name: clip(text, int(budget * SHARES.get(name, TASK_STATEMENT_SHARE))) for name, text in sized.items()}
    values |= {
        "outcome": evidence.outcome,
        "failed_tests": failed_tests(evidence.grading, evidence.counts),
    }
    trajectory = evidence.trajectory or "(none)"
    room = _room(meta_prompt, values, budget, "agent_code", "trajectory")
    values["agent_code"] = code_listing(code, _code_room(room, len(trajectory)))
    values["trajectory"] = clip(trajectory, max(0, room - len(values["agent_code"])))
    return values


def examples_values(
    meta_prompt: str, summary: str, code: CodeTree, lineage: str, examples: Sequence[TaskEvidence], budget: int
) -> dict[str, str]:
    """Every placeholder of a special entry's diagnosis (several example tasks), within `budget`."""
    values = {part: clip(text, int(budget * SHARES[part])) for part, text in (("agent_summary", summary),
              ("lineage_patches", lineage))}  # fmt: skip
    room = _room(meta_prompt, values, budget, "agent_code", "examples")
    wanted = sum(len(e.statement) + len(e.patch) + len(e.trajectory) + 200 for e in examples)
    values["agent_code"] = code_listing(code, _code_room(room, wanted))
    each = max(0, room - len(values["agent_code"]) - 2 * len(examples)) // max(1, len(examples))
    values["examples"] = "\n\n".join(example_text(example, each) for example in examples) or "(no example tasks)"
    return values


def example_text(example: TaskEvidence, limit: int) -> str:
    """One example task in `limit` characters: its head, then the trajectory gets what remains."""
    head = (
        f"## Task {example.task_id} (outcome: {example.outcome})\n{clip(example.statement, limit // 5)}\n\n"
        f"The agent's patch:\n{clip(example.patch or '(empty)', limit // 5)}\n\nTrajectory:\n"
    )
    return head + clip(example.trajectory or "(none)", max(0, limit - len(head) - 2))
