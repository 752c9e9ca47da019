"""A grade decided from per-test outcomes against the expected tests: never from an exit code.

Invariant 8 (scores cannot be forged, docs/invariants.md).

A test expected but not reported counts as failed, a test reported but not expected counts for nothing,
zero expected tests is never resolved, and `resolved` means every expected test passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opendgm.evaluators.task import Grade
from opendgm.outcomes import Verdict


def score(
    expected: Sequence[str],
    outcomes: Mapping[str, bool],
    *,
    timed_out: bool = False,
    exit_code: int = 0,
    output: str = "",
    notes: Sequence[str] = (),
) -> Grade:
    passed = sum(1 for test in expected if outcomes.get(test) is True)
    failed = len(expected) - passed
    missing = [test for test in expected if test not in outcomes]
    status: Verdict = "grading_timeout" if timed_out else "resolved" if expected and failed == 0 else "unresolved"
    summary = f"[opendgm] {passed}/{len(expected)} expected tests passed"
    if not expected:
        summary += " (no expected tests: never resolved)"
    if missing:
        summary += f"; not reported (counted as failed): {', '.join(missing[:10])}"
    lines = "".join(f"[opendgm] {note}\n" for note in notes)
    return Grade(status, passed, failed, exit_code, f"{output}\n{lines}{summary}\n", tuple(notes))
