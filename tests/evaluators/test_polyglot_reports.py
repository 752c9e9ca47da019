"""The per-test report parsers of the six Polyglot runners, and the grading rules built on them (no Docker).

The report samples are shaped like what the runners in the toolchain images write (checked against real
runs in test_polyglot_languages.py); hostile variants check that a report can only lose tests, never gain.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from opendgm.evaluators.polyglot import selftest_dir
from opendgm.evaluators.polyglot_grading import RunResult, partial_files, patch_from, score, solution_files
from opendgm.evaluators.polyglot_images import content_hash
from opendgm.evaluators.polyglot_languages import LANGUAGES
from opendgm.evaluators.polyglot_reports import (
    parse_cargo_test,
    parse_catch2_xml,
    parse_go_json,
    parse_jest_json,
    parse_junit_xml,
    parse_report,
)

GO_JSON = b"""\
{"Action":"run","Package":"squaregap","Test":"TestSquareOfSum"}
{"Action":"run","Package":"squaregap","Test":"TestSquareOfSum/SquareOfSum(1)"}
{"Action":"output","Package":"squaregap","Test":"TestSquareOfSum/SquareOfSum(1)","Output":"--- PASS\\n"}
{"Action":"pass","Package":"squaregap","Test":"TestSquareOfSum/SquareOfSum(1)","Elapsed":0}
{"Action":"fail","Package":"squaregap","Test":"TestSquareOfSum/SquareOfSum(5)","Elapsed":0}
{"Action":"fail","Package":"squaregap","Test":"TestSquareOfSum","Elapsed":0}
{"Action":"pass","Package":"squaregap","Test":"TestGap","Elapsed":0}
{"Action":"skip","Package":"squaregap","Test":"TestSkipped","Elapsed":0}
# squaregap [squaregap.test]
./square_gap.go:3:1: not json
{"Action":"fail","Package":"squaregap","Elapsed":0.01}
"""

CARGO = b"""\
   Compiling square_gap v0.1.0 (/workspace/repo)
    Finished test [unoptimized + debuginfo] target(s) in 1.2s
     Running unittests src/lib.rs (target/debug/deps/square_gap-0123456789abcdef)

running 1 test
test tests::inner ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out

     Running tests/square_gap.rs (target/debug/deps/square_gap-fedcba9876543210)

running 3 tests
test square_of_sum_of_one ... ok
test gap_of_five ... FAILED
test gap_of_ten ... ignored

failures:

---- gap_of_five stdout ----
thread 'gap_of_five' panicked at 'assertion failed'
test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out

   Doc-tests square_gap

running 1 test
test src/lib.rs - gap (line 3) ... ok
"""

CATCH2_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<Catch name="square-gap">
  <Group name="square-gap">
    <TestCase name="square_of_sum_of_one" filename="square_gap_test.cpp" line="8">
      <OverallResult success="true"/>
    </TestCase>
    <TestCase name="gap_of_five" filename="square_gap_test.cpp" line="20">
      <Expression success="false" type="REQUIRE"><Original>170UL == square_gap::gap(5)</Original></Expression>
      <OverallResult success="false"/>
    </TestCase>
    <TestCase name="crashed">
    </TestCase>
    <OverallResults successes="1" failures="1" expectedFailures="0"/>
  </Group>
  <OverallResults successes="1" failures="1" expectedFailures="0"/>
</Catch>
"""

JUNIT_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="JUnit Jupiter" tests="4" skipped="1" failures="1" errors="1">
  <testcase name="squareOfSumOfOne()" classname="SquareGapTest" time="0.01"/>
  <testcase name="gapOfFive()" classname="SquareGapTest" time="0.01">
    <failure message="expected: 170" type="org.opentest4j.AssertionFailedError">trace</failure>
  </testcase>
  <testcase name="gapOfTen()" classname="SquareGapTest"><error message="boom" type="RuntimeException"/></testcase>
  <testcase name="gapOfOneHundred()" classname="SquareGapTest"><skipped/></testcase>
</testsuite>
"""

JEST_JSON = json.dumps(
    {
        "numPassedTests": 1,
        "testResults": [
            {
                "name": "/workspace/repo/square-gap.spec.js",
                "status": "failed",
                "assertionResults": [
                    {"fullName": "square of the sum of one", "title": "of one", "status": "passed"},
                    {"fullName": "gap of five", "title": "of five", "status": "failed"},
                    {"fullName": "gap of ten", "title": "of ten", "status": "pending"},
                    {"fullName": "gap of later", "title": "of later", "status": "todo"},
                ],
            },
            {"name": "/workspace/repo/broken.spec.js", "status": "failed", "assertionResults": []},
        ],
    }
).encode()


def test_go_json_counts_leaf_tests_and_ignores_noise() -> None:
    assert parse_go_json(GO_JSON) == {
        "squaregap::TestSquareOfSum/SquareOfSum(1)": True,
        "squaregap::TestSquareOfSum/SquareOfSum(5)": False,
        "squaregap::TestGap": True,
        "squaregap::TestSkipped": False,
    }


def test_cargo_names_each_result_by_its_test_target() -> None:
    assert parse_cargo_test(CARGO) == {
        "src/lib.rs::tests::inner": True,
        "tests/square_gap.rs::square_of_sum_of_one": True,
        "tests/square_gap.rs::gap_of_five": False,
        "tests/square_gap.rs::gap_of_ten": False,
        "Doc-tests square_gap::src/lib.rs - gap (line 3)": True,
    }


def test_cargo_doc_tests_and_old_running_lines() -> None:
    old = b"     Running target/debug/deps/square_gap-0123456789abcdef\ntest adds ... ok\n"
    assert parse_cargo_test(old) == {"target/debug/deps/square_gap::adds": True}
    assert parse_cargo_test(CARGO)["tests/square_gap.rs::gap_of_five"] is False


def test_catch2_xml_reads_overall_results() -> None:
    assert parse_catch2_xml(CATCH2_XML) == {"square_of_sum_of_one": True, "gap_of_five": False, "crashed": False}


def test_junit_xml_failures_errors_and_skips_do_not_pass() -> None:
    assert parse_junit_xml(JUNIT_XML) == {
        "SquareGapTest.squareOfSumOfOne()": True,
        "SquareGapTest.gapOfFive()": False,
        "SquareGapTest.gapOfTen()": False,
        "SquareGapTest.gapOfOneHundred()": False,
    }


def test_jest_json_only_passed_assertions_pass() -> None:
    assert parse_jest_json(JEST_JSON) == {
        "square-gap.spec.js::square of the sum of one": True,
        "square-gap.spec.js::gap of five": False,
        "square-gap.spec.js::gap of ten": False,
        "square-gap.spec.js::gap of later": False,
    }


@pytest.mark.parametrize("language", [name for name, language in LANGUAGES.items() if not language.harness])
@pytest.mark.parametrize("raw", [b"", b"\x00\xff garbage", b"<?xml", b"{", b"[]", b"null"])
def test_garbage_reports_report_no_test(language: str, raw: bytes) -> None:
    assert parse_report(language, raw) == {}


def test_a_test_reported_twice_passes_only_if_every_report_passed() -> None:
    twice = JUNIT_XML.replace(b"</testsuite>", b'<testcase name="gapOfFive()" classname="SquareGapTest"/></testsuite>')
    assert parse_junit_xml(twice)["SquareGapTest.gapOfFive()"] is False
    assert parse_cargo_test(b"test a ... FAILED\ntest a ... ok\n") == {"::a": False}


def test_xml_entity_expansion_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite><testcase name="&a;"/></testsuite>'
    assert parse_junit_xml(bomb) == {} and parse_catch2_xml(bomb) == {}


def run(outcomes: dict[str, bool], timed_out: bool = False) -> RunResult:
    return RunResult(outcomes, 1, timed_out, "output")


def test_score_counts_missing_tests_as_failed_and_zero_tests_never_resolve() -> None:
    expected = ["a", "b", "c"]
    assert score(expected, run({"a": True, "b": True, "c": True})).status == "resolved"
    grade = score(expected, run({"a": True, "b": True, "extra": True}))
    assert (grade.status, grade.tests_passed, grade.tests_failed) == ("unresolved", 2, 1)
    assert "not reported (counted as failed): c" in grade.output
    assert score([], run({"a": True})).status == "unresolved"
    assert score(expected, run({"a": True, "b": True, "c": True}, timed_out=True)).status == "grading_timeout"


def test_unskipping_follows_aiders_harness() -> None:
    js = LANGUAGES["javascript"].unskip_tests({"a.spec.js": b"xtest('a', f);\nxit('b', g);\ntest.skip('c', h);\n"})
    assert js == {"a.spec.js": b"test('a', f);\nit('b', g);\ntest('c', h);\n"}
    java = b'    @Disabled("Remove to run test")\n    @Test\n    @Disabled\n    void x() {}\n'
    assert LANGUAGES["java"].unskip_tests({"T.java": java}) == {"T.java": b"    @Test\n    void x() {}\n"}
    assert LANGUAGES["java"].unskip_tests({"T.java": b"\xff@Disabled\n"}) == {"T.java": b"\xff@Disabled\n"}


def test_java_exercises_needing_libraries_debian_lacks_say_which() -> None:
    problem = LANGUAGES["java"].problem
    needs_rx = b'dependencies {\n    implementation "io.reactivex.rxjava2:rxjava:2.2.12"\n}\n'
    assert "io.reactivex.rxjava2" in (problem({"build.gradle": needs_rx}) or "")
    assert "org.json" in (problem({"build.gradle": b'implementation "org.json:json:20190722"\n'}) or "")
    junit = b'testImplementation platform("org.junit:junit-bom:5.10.0")\n'
    tests_only = junit + b'testImplementation "org.assertj:assertj-core:3.25.1"\n'
    assert problem({"build.gradle": tests_only}) is None


def exercise(language: str) -> Path:
    return selftest_dir() / language / "exercises" / "practice" / "square-gap"


def test_reference_files_replace_stubs_and_place_helpers() -> None:
    folder = exercise("java")
    files = json.loads((folder / ".meta/config.json").read_text())["files"]
    placed = solution_files(folder, files, files["example"])
    assert set(placed) == {"src/main/java/SquareGap.java", "src/main/java/Ranges.java"}
    patch = patch_from(folder, placed)
    assert "new file mode 100644\n--- /dev/null\n+++ b/src/main/java/Ranges.java" in patch
    cpp = exercise("cpp")
    files = json.loads((cpp / ".meta/config.json").read_text())["files"]
    assert set(solution_files(cpp, files, files["example"])) == {"square_gap.cpp", "square_gap.h"}
    rust = exercise("rust")
    assert set(partial_files(rust, json.loads((rust / ".meta/config.json").read_text())["files"])) == {"src/lib.rs"}
    partial = partial_files(cpp, files)  # the reference's header, the partial's source
    assert partial["square_gap.h"] == (cpp / ".meta/example.h").read_text()
    assert "wrong sign" in partial["square_gap.cpp"]


def test_an_image_is_rebuilt_when_its_base_packages_or_setup_change() -> None:
    rust = LANGUAGES["rust"]
    first = content_hash(rust, "sha256:base")
    assert content_hash(rust, "sha256:base") == first
    assert content_hash(rust, "sha256:other-base") != first
    assert content_hash(replace(rust, packages=(*rust.packages, "librust-regex-dev")), "sha256:base") != first
    assert content_hash(replace(rust, setup=rust.setup + " "), "sha256:base") != first
