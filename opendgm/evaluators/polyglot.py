"""Aider Polyglot (Exercism exercises in six languages) as repository tasks, graded offline.

The agent gets the exercise without its tests and without `.meta/` (which holds the reference
solution): the stubs, the build files and `.docs/`, with the docs as its statement, as in Aider's and
DGM's harnesses. At grading the test files are restored and the language's test command decides; exit 0
means resolved. Languages whose toolchain cannot work offline are listed as invalid tasks, with why.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.dgm_subsets import dgm_subsets
from opendgm.evaluators.humaneval import unified_diff
from opendgm.evaluators.polyglot_data import CONFIG, default_polyglot_dir, exercise_dirs
from opendgm.evaluators.polyglot_languages import LANGUAGES
from opendgm.evaluators.repo_tasks import read_tree
from opendgm.evaluators.task import Task
from opendgm.evaluators.task_images import mark_absent_images
from opendgm.sandbox.spec import DEFAULT_IMAGE

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
    version = "polyglot-benchmark/opendgm-1"
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
    )

    def __init__(self, path: str | Path | None = None, agent_timeout_s: float = 600, grading_timeout_s: float = 180):
        self.root = Path(path) if path else default_polyglot_dir()
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
            hidden_tests={path: tree[path] for path in sorted(hidden)},
            test_command=language.command(slug) if language else "false",
            image=language.image if language else DEFAULT_IMAGE,
            agent_timeout_s=self.agent_timeout_s,
            grading_timeout_s=self.grading_timeout_s,
            invalid=f"no test command for language {language_name!r}" if language is None else language.offline_problem,
        )

    def reference_patch(self, task: Task) -> str:
        """The exercise's `.meta` example written over the stub it solves (matched by file extension)."""
        folder = self._exercises()[task.id]
        files = exercise_files(folder)
        patch = ""
        for example in files["example"]:
            (solution,) = [path for path in files["solution"] if Path(path).suffix == Path(example).suffix]
            before, after = (folder / solution).read_text(), (folder / example).read_text()
            patch += unified_diff(solution, before, after)
        return patch


def exercise_files(folder: Path) -> dict[str, list[str]]:
    """`files` of the exercise's `.meta/config.json`: solution (stubs), test and example lists."""
    files = json.loads((folder / CONFIG).read_text(encoding="utf-8"))["files"]
    return {kind: list(files.get(kind, [])) for kind in ("solution", "test", "example")}


def image_help(image: str) -> str:
    """How to get a missing image: a language's toolchain image, or the runtime image."""
    for language in LANGUAGES.values():
        if language.packages and language.image == image:
            return f"build it offline with `opendgm data images polyglot --language {language.name}`"
    return "build it with `opendgm sandbox build`"
