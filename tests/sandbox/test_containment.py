"""Every containment case must hold on both backends, each in a fresh sandbox."""

from __future__ import annotations

import pytest

from opendgm.sandbox import DEFAULT_IMAGE, open_sandbox
from opendgm.sandbox.containment import CASES, Case, run_suite, suite_spec


@pytest.mark.parametrize("case", CASES, ids=[c.name.replace(" ", "-") for c in CASES])
def test_case_is_contained(backend: str, case: Case) -> None:
    with open_sandbox(suite_spec(DEFAULT_IMAGE, campaign="test-containment"), backend) as sandbox:
        (verdict,) = run_suite(sandbox, [case])
    assert verdict.contained, f"{case.name} escaped on {backend}: {verdict.detail}"


def test_a_failing_case_is_reported_not_hidden(local_isolation: None) -> None:
    """The suite can say "not contained": a case whose judge is unhappy or crashes shows up as such."""

    def crashes(_sandbox: object) -> tuple[bool, str]:
        raise RuntimeError("boom")

    cases = [Case("judge says no", "-", lambda _s: (False, "escaped")), Case("crash", "-", crashes)]
    with open_sandbox(suite_spec(DEFAULT_IMAGE), "local") as sandbox:
        verdicts = list(run_suite(sandbox, cases))
    assert [v.contained for v in verdicts] == [False, False]
    assert "RuntimeError: boom" in verdicts[1].detail
