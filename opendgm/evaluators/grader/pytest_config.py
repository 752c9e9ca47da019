"""The task's pytest configuration in pyproject.toml, put back after the agent's patch (invariant 8: scores
cannot be forged).

pytest reads `[tool.pytest.ini_options]` (and `[tool.pytest]`) like pytest.ini: `addopts` can load a
plugin from the repository, deselect tests or change how outcomes are reported. The rest of the file
(dependencies, build settings) may change with a real fix, so only the pytest tables are put back; when
the agent wrote them in a form that cannot be separated from the rest (dotted keys under `[tool]`, quoted
names, a file TOML cannot read), the whole file is put back as the task has it. Either way with a reason.
"""

from __future__ import annotations

import re
import tomllib

TABLE_HEADER = re.compile(r"^\[\[?\s*([A-Za-z0-9_.\- ]+?)\s*\]\]?\s*(?:#.*)?$")
UNREADABLE = object()  # the pytest configuration of a file TOML cannot read


def pytest_config(text: str | None) -> object:
    """What pytest reads from a pyproject.toml's text (`tool.pytest`), None without one."""
    if text is None:
        return None
    try:
        return tomllib.loads(text).get("tool", {}).get("pytest")
    except (tomllib.TOMLDecodeError, AttributeError):
        return UNREADABLE


def restore_pytest_tables(original: str | None, patched: str | None) -> tuple[str | None, str | None]:
    """(the file's text to grade with, None for no file; why it differs from `patched`, or None)."""
    wanted = pytest_config(original)
    if pytest_config(patched) == wanted and wanted is not UNREADABLE:
        return patched, None
    if patched is not None and wanted is not UNREADABLE:
        theirs = "".join(block for name, block in _blocks(patched) if not _is_pytest(name))
        ours = "".join(block for name, block in _blocks(original or "") if _is_pytest(name))
        merged = theirs.rstrip("\n") + ("\n\n" + ours if ours else "\n")
        if pytest_config(merged) == wanted:
            return merged, "pyproject.toml: the agent's changes to [tool.pytest] were replaced by the task's"
    return original, "pyproject.toml: put back as the task has it (its pytest tables could not be separated)"


def _is_pytest(table: str | None) -> bool:
    name = (table or "").replace(" ", "")
    return name == "tool.pytest" or name.startswith("tool.pytest.")


def _blocks(text: str) -> list[tuple[str | None, str]]:
    """The text cut before each table header: (the table's name, None before the first; its lines)."""
    blocks: list[tuple[str | None, str]] = [(None, "")]
    for line in text.splitlines(keepends=True):
        header = TABLE_HEADER.match(line.strip())
        if header:
            blocks.append((header.group(1), ""))
        name, body = blocks[-1]
        blocks[-1] = (name, body + line)
    return blocks
