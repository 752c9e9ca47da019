"""The unittest ids that hidden test files define, read from their syntax tree (nothing is run).

These are the expected tests of a task that does not list its own: each `test*` method of each class
that derives (directly or through classes of the same file) from a `...TestCase`, named as unittest's
discovery names it from the tests folder: `module.Class.method`.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Mapping
from pathlib import PurePosixPath


def unittest_ids(files: Mapping[str, bytes], folder: str, pattern: str = "test*.py") -> list[str]:
    """Sorted ids of the tests in `files` (paths under `folder`) whose file name matches `pattern`."""
    ids: list[str] = []
    for path, data in files.items():
        relative = PurePosixPath(path).relative_to(folder) if folder else PurePosixPath(path)
        if not fnmatch.fnmatch(relative.name, pattern):
            continue
        module = ".".join(relative.with_suffix("").parts)
        try:
            tree = ast.parse(data)
        except (SyntaxError, ValueError):
            continue  # reported by the runner as an import failure; its tests are simply not expected
        ids += [f"{module}.{cls}.{method}" for cls, method in _test_methods(tree)]
    return sorted(ids)


def _test_methods(tree: ast.Module) -> list[tuple[str, str]]:
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    def is_case(node: ast.ClassDef, seen: frozenset[str] = frozenset()) -> bool:
        for base in node.bases:
            name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
            if name.endswith("TestCase") or (
                name in classes and name not in seen and is_case(classes[name], seen | {name})
            ):
                return True
        return False

    def methods(node: ast.ClassDef, seen: frozenset[str] = frozenset()) -> set[str]:
        own = {
            item.name
            for item in node.body
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test")
        }
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in classes and base.id not in seen:
                own |= methods(classes[base.id], seen | {base.id})
        return own

    return [(name, method) for name, node in classes.items() if is_case(node) for method in sorted(methods(node))]
