"""Import-time hooks a patch may add, dropped before grading with the reason recorded (invariant 8: scores
cannot be forged, docs/invariants.md).

A file that Python (or pytest) runs on its own before any test, or a top-level module named like a
standard-library module, lets agent code take over the test process without touching a test. Such
changes are never needed to solve a task, so they are dropped from the patch, the rest still applies.
"""

from __future__ import annotations

import sys
from pathlib import PurePosixPath

from opendgm.evaluators.patches import split_by_file

HOOK_FILES = {"sitecustomize.py": "runs at interpreter start", "usercustomize.py": "runs at interpreter start"}
MODULE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")
RUNNER_MODULES = frozenset({"pytest", "_pytest", "py", "pluggy", "nose", "nose2"})  # test runners, not stdlib


def hook_reason(path: str, added: bool = True) -> str | None:
    """Why a changed file at `path` (relative to the repository) is an import hook, or None.

    A module named like the standard library's counts only when the patch adds it: one the task already
    has is the task's own (changing it cannot shadow anything that was not shadowed before).
    """
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    if name in HOOK_FILES:
        return f"{path}: {HOOK_FILES[name]}"
    if name.endswith(".pth"):
        return f"{path}: a .pth file runs code when a site directory is read"
    if name == "conftest.py":
        return f"{path}: pytest runs conftest.py before any test"
    if not added or not name.endswith(MODULE_SUFFIXES):
        return None
    # The repository's root is on the import path, and so is `src/` for the src layout.
    tops = parts[:1] + (parts[1:2] if parts[0] == "src" else ())
    for top in (part.split(".", 1)[0] for part in tops):
        if top in sys.stdlib_module_names or top in RUNNER_MODULES:
            return f"{path}: shadows the module `{top}` the test runner imports"
    return None


def drop_hooks(patch: str) -> tuple[str, list[str]]:
    """The patch without changes that add import hooks, and one reason per dropped file."""
    kept, reasons = [], []
    for _old, new, section in split_by_file(patch):
        header = section.split("\n@@", 1)[0]
        added = "\nnew file mode" in header or "\nrename to" in header or "\ncopy to" in header
        reason = hook_reason(new, added)
        if reason:
            reasons.append(f"dropped {reason}")
        else:
            kept.append(section)
    return ("".join(kept), reasons) if reasons else (patch, [])
