"""How each Aider Polyglot language is tested, and the image that holds its toolchain.

A toolchain image is built offline: a Debian bookworm minbase with the toolchain's packages made by
debootstrap and `docker import`ed, then the runtime Dockerfile on top (the sandbox user, git settings).
Python needs nothing beyond the runtime image: Exercism's Python tests are unittest classes, so the
standard library runs them without pytest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opendgm.sandbox.spec import DEFAULT_IMAGE

# Exercism's C++ CMakeLists.txt names the exercise after its directory, so the build runs in a copy named
# after the slug (under the workspace: /tmp is mounted noexec).
CPP_TEST = (
    "rm -rf /workspace/build && mkdir -p /workspace/build/{slug} && cp -r . /workspace/build/{slug} "
    "&& cd /workspace/build/{slug} && mkdir -p build && cd build "
    "&& cmake -DEXERCISM_RUN_ALL_TESTS=1 -G 'Unix Makefiles' .. && make"
)

# Go links test binaries in a temporary folder and runs them from there: not /tmp, which is noexec.
GO_TEST = 'mkdir -p "$HOME/.cache/go-tmp" && GOTMPDIR="$HOME/.cache/go-tmp" GOPROXY=off go test ./...'


@dataclass(frozen=True)
class Language:
    """One language of the benchmark: its test command, its Debian toolchain, or why it cannot run offline."""

    name: str
    test_command: str  # run in the exercise's repository; `{slug}` is the exercise's name
    packages: tuple[str, ...] = ()  # Debian packages beyond the runtime image's (none: the runtime image)
    offline_problem: str | None = None

    @property
    def image(self) -> str:
        return f"opendgm-polyglot-{self.name}:bookworm" if self.packages else DEFAULT_IMAGE

    @property
    def base_image(self) -> str:
        """The debootstrapped root filesystem the toolchain image is built on."""
        return f"opendgm-polyglot-{self.name}-base:bookworm"

    def command(self, slug: str) -> str:
        return self.test_command.format(slug=slug)


LANGUAGES = {
    language.name: language
    for language in (
        Language("python", "python3 -m unittest discover -p '*_test.py'"),
        Language("go", GO_TEST, ("golang-go",)),
        Language("rust", "cargo test --offline -- --include-ignored", ("cargo", "rustc")),
        Language("cpp", CPP_TEST, ("g++", "make", "cmake")),
        Language(
            "javascript",
            "npm test",
            offline_problem="javascript needs jest and babel from npm, which a sandbox cannot reach and Debian "
            "does not package; not supported yet",
        ),
        Language(
            "java",
            "./gradlew test",
            offline_problem="java's gradlew downloads Gradle and Maven Central dependencies (Debian's gradle 4.4 "
            "is too old for these builds); not supported yet",
        ),
    )
}


def build_language_image(language: Language, say: Callable[[str], None] = print) -> str:
    """Build (or find up to date) the language's toolchain image, offline; returns its name."""
    from opendgm.sandbox.images import BASE_PACKAGES, build_runtime_image, ensure_offline_base

    if not language.packages:
        return build_runtime_image(say=say).image
    base = ensure_offline_base(say, image=language.base_image, packages=BASE_PACKAGES + language.packages)
    return build_runtime_image(language.image, say=say, base=base).image
