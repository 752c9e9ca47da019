"""Aider Polyglot (Exercism exercises in six languages) as repository tasks, graded offline.

The agent gets the exercise without its tests and without `.meta/` (which holds the reference
solution): the stubs, the build files and `.docs/`, with the docs as its statement, as in Aider's and
DGM's harnesses. At grading the test files (un-skipped) and the build configuration are restored and the
runner's per-test report decides (`polyglot_grading`); resolved means every expected test passed.
`-o dataset=selftest` grades the exercises shipped with opendgm instead of an imported benchmark.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.dgm_subsets import dgm_subsets
from opendgm.evaluators.polyglot_data import CONFIG, default_polyglot_dir, exercise_dirs
from opendgm.evaluators.polyglot_grading import ExpectedTests, grade_exercise, patch_from, solution_files
from opendgm.evaluators.polyglot_languages import LANGUAGES
from opendgm.evaluators.task import NO_GRADING, Grade, Grading, Task
from opendgm.evaluators.task_files import read_tree
from opendgm.evaluators.task_images import mark_absent_images
from opendgm.sandbox import DEFAULT_IMAGE, Sandbox

DOCS = (".docs/introduction.md", ".docs/instructions.md", ".docs/instructions.append.md")
STATEMENT = """\
{docs}

Use the above instructions to modify the supplied files: {files}
Don't change the names of existing functions or classes, as they may be referenced from other code like unit
tests. Only use standard libraries; no package can be installed.
"""


class Polyglot(Evaluator):
    """Exercises imported by `opendgm data import polyglot`; ids are `<lang>__<slug>` as in DGM."""

    name = "polyglot"
    grades_by_exit_code = False
    version = "polyglot-benchmark/opendgm-2"  # per-test grading, un-skipped tests, restored build files
    # Test files (restored at grading anyway) and places an agent could add tests or a reference solution.
    protected_patterns = (
        "*_test.py",
        "*_test.go",
        "*.spec.js",
        "*_test.cpp",
        "test/*",
        "tests/*",
        "src/test/*",
        ".meta/*",
        *sorted({pattern for language in LANGUAGES.values() for pattern in language.config_patterns}),
    )

    def __init__(
        self,
        path: str | Path | None = None,
        agent_timeout_s: float = 600,
        grading_timeout_s: float = 180,
        dataset: str | None = None,
    ):
        if dataset not in (None, "selftest"):
            raise ValueError(f"polyglot: unknown dataset {dataset!r}; the only shipped one is 'selftest'")
        if dataset and path:
            raise ValueError("polyglot: give either dataset=selftest or path=..., not both")
        self.root = selftest_dir() if dataset else Path(path) if path else default_polyglot_dir()
        self.expected = ExpectedTests()
        if not exercise_dirs(self.root):
            raise FileNotFoundError(
                f"polyglot: no exercises in {self.root}; import a local checkout of Aider-AI/polyglot-benchmark "
                "with `opendgm data import polyglot PATH`"
            )
        self.agent_timeout_s, self.grading_timeout_s = float(agent_timeout_s), float(grading_timeout_s)

    @functools.cache  # noqa: B019 - evaluators are long-lived and the imported exercises do not change under them
    def _exercises(self) -> dict[str, Path]:
        return {f"{folder.parts[-4]}__{folder.name}": folder for folder in exercise_dirs(self.root)}

    def tasks(self) -> list[Task]:
        tasks = [self._task(task_id, folder) for task_id, folder in self._exercises().items()]
        return mark_absent_images(tasks, image_help)

    def subsets(self) -> dict[str, list[str]]:
        ids = list(self._exercises())
        by_language = {language: [i for i in ids if i.startswith(f"{language}__")] for language in LANGUAGES}
        return {**{k: v for k, v in by_language.items() if v}, **dgm_subsets("polyglot", set(ids)), "all": ids}

    def _task(self, task_id: str, folder: Path) -> Task:
        language_name, slug = task_id.split("__", 1)
        language = LANGUAGES.get(language_name)
        try:
            files = exercise_files(folder)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return Task(id=task_id, statement="", invalid=f"{folder / CONFIG}: cannot read: {exc!r}")
        tree = read_tree(folder)
        hidden = set(files["test"])
        docs = "\n\n".join(tree[doc].decode() for doc in DOCS if doc in tree)
        return Task(
            id=task_id,
            statement=STATEMENT.format(docs=docs.strip(), files=", ".join(files["solution"])),
            repo_files={
                path: data for path, data in tree.items() if path not in hidden and not path.startswith(".meta/")
            },
            hidden_tests=language.unskip_tests({path: tree[path] for path in sorted(hidden)}) if language else {},
            test_command=language.test_script(slug) if language else "false",
            image=language.image if language else DEFAULT_IMAGE,
            agent_timeout_s=self.agent_timeout_s,
            grading_timeout_s=self.grading_timeout_s,
            invalid=f"no test command for language {language_name!r}" if language is None else language.problem(tree),
        )

    def grade(self, task: Task, patch: str, sandbox: Sandbox, grading: Grading = NO_GRADING) -> Grade:
        return grade_exercise(self, task, patch, sandbox, self.expected)

    def reference_patch(self, task: Task) -> str:
        """The exercise's `.meta` example files written over the stubs they solve."""
        folder = self._exercises()[task.id]
        files = exercise_files(folder)
        return patch_from(folder, solution_files(folder, files, files["example"]))


def exercise_files(folder: Path) -> dict[str, list[str]]:
    """`files` of the exercise's `.meta/config.json`: solution (stubs), test and example lists."""
    files = json.loads((folder / CONFIG).read_text(encoding="utf-8"))["files"]
    return {kind: list(files.get(kind, [])) for kind in ("solution", "test", "example")}


def selftest_dir() -> Path:
    """The exercises shipped with opendgm: one per language, with a reference, a stub and a partial solution."""
    return Path(str(resources.files("opendgm.evaluators") / "data" / "polyglot_selftest"))


def image_help(image: str) -> str:
    """How to get a missing image: a language's toolchain image, or the runtime image."""
    for language in LANGUAGES.values():
        if language.packages and language.image == image:
            return f"build it offline with `opendgm data images polyglot --language {language.name}`"
    return "build it with `opendgm sandbox build`"
