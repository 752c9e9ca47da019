"""Per-test outcomes read from each Polyglot test runner's own report: pure functions, no I/O.

Each parser maps the raw report (bytes, as the runner wrote it) to {test id: passed}. A report that cannot
be read yields what could be read (often nothing): the grader counts every expected test that is missing
as failed, so a truncated or garbled report can only lower a score, never raise it. Skipped, pending or
todo tests count as not passed.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

Outcomes = dict[str, bool]

# `go test -json` actions that end a test.
GO_DONE = {"pass": True, "fail": False, "skip": False}
# libtest's result lines: `test tests::adds_one ... ok` (cargo test's plain output, the only stable one).
RUST_RESULT = re.compile(r"^test (\S.*?) \.\.\. (ok|FAILED|ignored)\b", re.MULTILINE)
# `Running tests/bowling.rs (target/debug/deps/bowling-0123abcd)`, `Running unittests src/lib.rs (...)`,
# or older cargo's `Running target/debug/deps/bowling-0123abcd`; `Doc-tests bowling`.
RUST_TARGET = re.compile(r"^\s*(?:Running (?:unittests )?(\S+)|(Doc-tests \S+))", re.MULTILINE)


def parse_go_json(raw: bytes) -> Outcomes:
    """`go test -json`: the leaf tests (a test with subtests counts through its subtests)."""
    outcomes: Outcomes = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # build output and anything the tests print outside an event
        if not isinstance(event, dict) or not isinstance(event.get("Test"), str):
            continue
        action = event.get("Action")
        if action in GO_DONE:
            _record(outcomes, f"{event.get('Package', '')}::{event['Test']}", GO_DONE[action])
    parents = {test.rsplit("/", 1)[0] for test in outcomes if "/" in test.split("::", 1)[-1]}
    return {test: passed for test, passed in outcomes.items() if test not in parents}


def parse_cargo_test(raw: bytes) -> Outcomes:
    """`cargo test`'s plain output: each result line, named by the test target it ran in."""
    text = raw.decode("utf-8", "replace")
    targets = [(match.start(), _rust_target(match)) for match in RUST_TARGET.finditer(text)]
    outcomes: Outcomes = {}
    for match in RUST_RESULT.finditer(text):
        target = next((name for start, name in reversed(targets) if start < match.start()), "")
        _record(outcomes, f"{target}::{match.group(1)}", match.group(2) == "ok")
    return outcomes


def _rust_target(match: re.Match[str]) -> str:
    if match.group(2):
        return match.group(2)
    path = match.group(1)
    return re.sub(r"-[0-9a-f]{8,}$", "", path)  # a deps binary name carries its hash


def parse_catch2_xml(raw: bytes) -> Outcomes:
    """Catch2's XML reporter (`-r xml`): each TestCase's OverallResult."""

    def passed(case: ET.Element) -> bool:
        result = case.find("OverallResult")
        return result is not None and result.get("success") == "true"

    return _xml_outcomes(raw, "TestCase", lambda case: case.get("name"), passed)


def parse_junit_xml(raw: bytes) -> Outcomes:
    """JUnit's XML (the console launcher's legacy report): a testcase passes with no failure, error or skip."""
    return _xml_outcomes(
        raw,
        "testcase",
        lambda case: f"{case.get('classname', '')}.{case.get('name', '')}",
        lambda case: not any(case.find(tag) is not None for tag in ("failure", "error", "skipped")),
    )


def parse_jest_json(raw: bytes) -> Outcomes:
    """jest's `--json` report: each assertion result, named by its test file and full name."""
    try:
        report = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return {}
    outcomes: Outcomes = {}
    for suite in report.get("testResults", []) if isinstance(report, dict) else []:
        if not isinstance(suite, dict):
            continue
        file = str(suite.get("name", "")).rsplit("/", 1)[-1]
        for result in suite.get("assertionResults") or []:
            if isinstance(result, dict):
                test = f"{file}::{result.get('fullName') or result.get('title')}"
                _record(outcomes, test, result.get("status") == "passed")
    return outcomes


def _record(outcomes: Outcomes, test: str, passed: bool) -> None:
    """A test reported more than once passes only if every report of it passed."""
    outcomes[test] = outcomes.get(test, True) and passed


def _xml_outcomes(
    raw: bytes, tag: str, name: Callable[[ET.Element], str | None], passed: Callable[[ET.Element], bool]
) -> Outcomes:
    outcomes: Outcomes = {}
    root = _xml_root(raw)
    for case in root.iter(tag) if root is not None else ():
        test = name(case)
        if test is not None:
            _record(outcomes, test, passed(case))
    return outcomes


def _xml_root(raw: bytes) -> ET.Element | None:
    """The parsed document, or None; entity declarations are refused (a report is untrusted input)."""
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        return None
    try:
        return ET.fromstring(raw)
    except ET.ParseError:
        return None


PARSERS: dict[str, Callable[[bytes], Outcomes]] = {
    "go": parse_go_json,
    "rust": parse_cargo_test,
    "cpp": parse_catch2_xml,
    "java": parse_junit_xml,
    "javascript": parse_jest_json,
}


def parse_report(language: str, raw: bytes) -> Outcomes:
    """{test id: passed} from the report of `language`'s runner."""
    return PARSERS[language](raw)
