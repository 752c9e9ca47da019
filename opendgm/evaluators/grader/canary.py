"""A test that must fail, added to a compiled language's tests at grading: a report without it is forged.

Invariant 8 (scores cannot be forged, docs/invariants.md).

The per-test report of Go, Rust, C++, Java and JavaScript comes from the process that also runs the
solution's code, which can write a report of its own (print `--- PASS` lines, write the XML or JSON
file) and exit before the real one. The canary's name carries a token drawn for this grading only and
written nowhere but in the test files at grading, so a report made up in advance cannot name it; a report
that does not show it failed was not written by the test runner, and every test counts as failed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

GO_PACKAGE = re.compile(rb"^package\s+(\w+)", re.MULTILINE)


def new_token() -> str:
    return secrets.token_hex(8)


def with_canary(language: str, tests: Mapping[str, bytes], token: str) -> dict[str, bytes]:
    """The task's test files plus the canary (a new file, or appended to the first test file)."""
    out = dict(tests)
    first = next(iter(sorted(path for path in tests if _is_test_source(language, path))), None)
    if language == "go" and first is not None:
        package = GO_PACKAGE.search(tests[first])
        name = package.group(1).decode() if package else "main"
        folder = first.rsplit("/", 1)[0] + "/" if "/" in first else ""
        out[f"{folder}opendgm_canary_{token}_test.go"] = (
            f'package {name}\n\nimport "testing"\n\n'
            f'func TestOpendgmCanary{token}(t *testing.T) {{ t.Fatal("opendgm canary") }}\n'
        ).encode()
    elif language == "java":
        out[f"src/test/java/OpendgmCanary{token}Test.java"] = (
            "import org.junit.jupiter.api.Test;\n\n"
            f"public class OpendgmCanary{token}Test {{\n"
            '    @Test\n    public void canary() { throw new AssertionError("opendgm canary"); }\n}\n'
        ).encode()
    elif first is not None and language in APPENDED:
        out[first] = tests[first] + APPENDED[language].format(token=token).encode()
    return out


APPENDED = {
    "rust": '\n#[test]\nfn opendgm_canary_{token}() {{ panic!("opendgm canary"); }}\n',
    "cpp": '\nTEST_CASE("opendgm canary {token}") {{ REQUIRE(false); }}\n',
    "javascript": "\ntest('opendgm canary {token}', () => {{ throw new Error('opendgm canary'); }});\n",
}
TEST_SOURCES = {
    "go": r".*_test\.go$",
    "rust": r"^tests/.*\.rs$",
    "cpp": r".*_test\.cpp$",
    "javascript": r".*\.spec\.js$",
    "java": r"^src/test/.*\.java$",
}


# Python's canary for a runner the task chooses (SWE-bench's eval scripts): a test function for pytest-like
# runners, a TestCase for unittest and Django's; it fails through the runner's own assertion, so a solution
# that turns assertions into no-ops turns the canary green too.
PYTHON_CANARY = """

import unittest as _opendgm_unittest


def test_opendgm_canary_{token}():
    assert "{token}" == "", "opendgm canary"


class OpendgmCanary{token}(_opendgm_unittest.TestCase):
    def test_opendgm_canary_{token}(self):
        self.assertEqual("{token}", "", "opendgm canary")
"""


def python_canary(token: str) -> str:
    return PYTHON_CANARY.format(token=token)


def _is_test_source(language: str, path: str) -> bool:
    return bool(re.match(TEST_SOURCES.get(language, r"(?!)"), path))


def check_canary(outcomes: Mapping[str, bool], token: str) -> tuple[dict[str, bool], str | None]:
    """The outcomes without the canary, all failed with a note when the canary did not fail."""
    canary = [test for test in outcomes if token in test]
    rest = {test: passed for test, passed in outcomes.items() if token not in test}
    if canary and not any(outcomes[test] for test in canary):
        return rest, None
    why = "reported as passed" if canary else "not reported"
    note = f"the canary test was {why}: the report was not written by the test runner; every test fails"
    return {test: False for test in rest}, note
