"""How each Aider Polyglot language is tested offline: its toolchain, its runner's report, its un-skipping.

Every language runs its exercises' own tests with its usual runner, as Aider's and DGM's harnesses do, but
asks the runner for its machine-readable report (go test -json, cargo's result lines, Catch2's XML, the
JUnit console launcher's XML, jest's JSON, unittest's verbose lines), written to a path the grader
chooses; `polyglot_reports` turns it into per-test outcomes. Nothing is downloaded in a sandbox: Java
compiles with javac against Debian's JUnit 5 and AssertJ instead of Gradle, JavaScript uses a jest tree
installed into the image from a pinned lockfile, Rust resolves crates from Debian's `librust-*-dev`
packages. Skipped tests are un-skipped in the task's own test files, as Aider's harness does.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from opendgm.evaluators.polyglot_reports import Outcomes, parse_report
from opendgm.sandbox import DEFAULT_IMAGE

REPORT = "/workspace/grading/report"
BUILD_DIR = "/workspace/grading/build"  # outside the repository; /tmp is mounted noexec
JS_MODULES = "/opt/opendgm/javascript/node_modules"
JAVA_LIBS = "/usr/share/java"
# Test libraries the Java exercises' build.gradle files declare, and where Debian has them. A library an
# exercise needs that is not here makes that exercise invalid, with the library named.
JAVA_LIBRARIES = {
    "org.junit": "junit-platform-console-standalone.jar",
    "org.junit.jupiter": "junit-platform-console-standalone.jar",
    "org.assertj": "assertj-core.jar",
}  # not org.json: Debian's libandroid-json-java throws checked JSONExceptions, so json.org code does not compile
GRADLE_DEPENDENCY = re.compile(r"""^\s*\w*[Ii]mplementation\s*\(?\s*(?:platform\()?["']([\w.\-]+):""", re.MULTILINE)


def _go_script(slug: str, report: str) -> str:
    # Go links test binaries in a temporary folder and runs them from there: not /tmp, which is noexec.
    return (
        'mkdir -p "$HOME/.cache/go-tmp" && export GOTMPDIR="$HOME/.cache/go-tmp" GOPROXY=off GOFLAGS=-mod=mod '
        f"&& go test -json ./... >{report} 2>&1; status=$?; cat {report}; exit $status"
    )


def _rust_script(slug: str, report: str) -> str:
    return f"cargo test --offline -- --include-ignored >{report} 2>&1; status=$?; cat {report}; exit $status"


def _cpp_script(slug: str, report: str) -> str:
    # Exercism's CMakeLists.txt names the test program after the exercise's folder: build in a copy named so.
    copy = f"{BUILD_DIR}/{slug}"
    return (
        f"rm -rf {BUILD_DIR} && mkdir -p {copy} && cp -r . {copy} && cd {copy} && mkdir -p build && cd build "
        f"&& cmake -DEXERCISM_RUN_ALL_TESTS=1 -G 'Unix Makefiles' .. && make {shlex.quote(slug)} "
        f"&& ./{shlex.quote(slug)} --reporter xml --out {report}"
    )


def _java_script(slug: str, report: str) -> str:
    launcher = f"{JAVA_LIBS}/junit-platform-console-standalone.jar"
    libraries = ":".join(f"{JAVA_LIBS}/{jar}" for jar in sorted(set(JAVA_LIBRARIES.values())) if jar not in launcher)
    main, test = f"{BUILD_DIR}/main", f"{BUILD_DIR}/test"
    return (
        f"rm -rf {BUILD_DIR} && mkdir -p {main} {test} "
        f"&& javac -encoding UTF-8 -nowarn -d {main} -cp {libraries} $(find src/main/java -name '*.java') "
        f"&& javac -encoding UTF-8 -nowarn -d {test} -cp {main}:{launcher}:{libraries} "
        "$(find src/test/java -name '*.java') "
        f"&& java -jar {launcher} --disable-banner --details=tree --class-path {main}:{test}:{libraries} "
        f"--scan-class-path {test} --reports-dir {BUILD_DIR}/reports; status=$?; "
        f"cp {BUILD_DIR}/reports/TEST-junit-jupiter.xml {report}; exit $status"
    )


def _javascript_script(slug: str, report: str) -> str:
    # The image's jest tree replaces whatever node_modules the repository has: presets and plugins babel
    # loads come from there, so a repository's own would run inside the test process.
    return (
        f"rm -rf node_modules && ln -s {JS_MODULES} node_modules "
        f"&& node {JS_MODULES}/jest/bin/jest.js --ci --runInBand --watchman=false --json --outputFile={report} ./*"
    )


def _unskip_javascript(text: str) -> str:
    """`xtest(`/`xit(`/`xdescribe(` and `.skip(` become the running forms (Aider does the `xtest` part)."""
    text = re.sub(r"\bx(test|it|describe)\s*\(", r"\1(", text)
    return re.sub(r"\b(test|it|describe)\.skip\s*\(", r"\1(", text)


def _unskip_java(text: str) -> str:
    """`@Disabled` and `@Disabled("...")` annotations are removed, as Aider's harness does."""
    return re.sub(r"^[ \t]*@Disabled\b(?:\([^)]*\))?[ \t]*\r?\n", "", text, flags=re.MULTILINE)


def _java_problem(files: Mapping[str, bytes]) -> str | None:
    """Which library a Java exercise's build.gradle needs that Debian does not package, if any."""
    gradle = files.get("build.gradle", b"").decode("utf-8", "replace")
    missing = sorted({group for group in GRADLE_DEPENDENCY.findall(gradle) if not _java_library(group)})
    if not missing:
        return None
    return f"needs {', '.join(missing)}, which Debian does not package: cannot run offline"


def _java_library(group: str) -> str | None:
    matches = (jar for prefix, jar in JAVA_LIBRARIES.items() if group == prefix or group.startswith(prefix + "."))
    return next(matches, None)


@dataclass(frozen=True)
class Language:
    """One language of the benchmark: its toolchain image, its test run, its report, its un-skipping."""

    name: str
    script: Callable[[str, str], str] | None  # (exercise slug, report path) -> bash run in the repository
    packages: tuple[str, ...] = ()  # Debian packages beyond the runtime image's (none: the runtime image)
    unskip: Callable[[str], str] = lambda text: text  # applied to the task's own test files at grading
    # Build and test configuration: the agent's changes are dropped and the task's files restored at grading.
    config_patterns: tuple[str, ...] = ()
    problem: Callable[[Mapping[str, bytes]], str | None] = lambda _files: None  # why an exercise cannot run
    smoke: str = "true"  # run once when the image is built: the toolchain answers
    setup: str = ""  # run as root when the image is built, after the packages, with extras at /opt/opendgm-extras
    extras: tuple[str, ...] = field(default=())  # package-data folders copied into the image build
    harness: tuple[str, ...] = ()  # instead of `script`: arguments of the trusted harness (`grader`)

    @property
    def image(self) -> str:
        """A layer on the runtime image (the `:toolchain` tag: not the older debootstrapped `:bookworm` ones)."""
        return f"opendgm-polyglot-{self.name}:toolchain" if self.packages else DEFAULT_IMAGE

    def test_script(self, slug: str, report: str = REPORT) -> str:
        """The commands the grading sandbox runs in the exercise's repository; the report lands at `report`."""
        if self.script is None:
            return f"opendgm harness: {' '.join(self.harness)}"
        folder = report.rsplit("/", 1)[0]
        return f"mkdir -p {folder} && rm -f {report} && {{ {self.script(slug, report)}; }}"

    def parse_report(self, raw: bytes) -> Outcomes:
        return parse_report(self.name, raw)

    def unskip_tests(self, tests: Mapping[str, bytes]) -> dict[str, bytes]:
        """The task's test files with their skipped tests made to run (bytes that are not UTF-8 stay as they are)."""
        out = {}
        for path, data in tests.items():
            try:
                out[path] = self.unskip(data.decode("utf-8")).encode("utf-8")
            except UnicodeDecodeError:
                out[path] = data
        return out


CARGO_CONFIG = """\
[source.crates-io]
replace-with = "debian-packages"

[source.debian-packages]
directory = "/usr/share/cargo/registry"

[net]
offline = true
"""

LANGUAGES = {
    language.name: language
    for language in (
        Language("python", None, harness=("unittest", ".", "*_test.py")),
        Language(
            "go",
            _go_script,
            ("golang-go",),
            config_patterns=("go.mod", "go.sum"),
            smoke="go version",
        ),
        Language(
            "rust",
            _rust_script,
            ("cargo", "rustc", "librust-time-dev", "librust-anyhow-dev", "librust-rand-dev"),
            config_patterns=("Cargo.toml", "Cargo.lock", "build.rs", ".cargo/*"),
            # Cargo reads /.cargo/config.toml for every project below / (the sandbox's HOME is replaced).
            setup=f"mkdir -p /.cargo && printf %s {shlex.quote(CARGO_CONFIG)} > /.cargo/config.toml",
            smoke="cargo --version && rustc --version",
        ),
        Language(
            "cpp",
            _cpp_script,
            ("g++", "make", "cmake", "catch2", "libboost-date-time-dev"),  # gigasecond and meetup use Boost
            config_patterns=("CMakeLists.txt", "test/*"),
            smoke="cmake --version && g++ --version",
        ),
        Language(
            "javascript",
            _javascript_script,
            ("nodejs",),
            unskip=_unskip_javascript,
            config_patterns=("package.json", "package-lock.json", "babel.config.js", ".babelrc", "jest.config.*"),
            setup=f"mkdir -p {JS_MODULES.rsplit('/', 1)[0]} && cp -a /opt/opendgm-extras/javascript/node_modules "
            f"{JS_MODULES} && chmod -R a+rX,go-w {JS_MODULES}",
            smoke=f"node --version && node {JS_MODULES}/jest/bin/jest.js --version",
            extras=("javascript",),
        ),
        Language(
            "java",
            _java_script,
            ("default-jdk-headless", "junit5", "libassertj-core-java"),
            unskip=_unskip_java,
            config_patterns=("build.gradle", "settings.gradle", "gradle/*", "gradlew", "gradlew.bat"),
            problem=_java_problem,
            smoke=f"javac -version && java -jar {JAVA_LIBS}/junit-platform-console-standalone.jar --help >/dev/null",
        ),
    )
}
