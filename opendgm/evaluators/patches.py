"""Working with the agent's diff: splitting it per file and dropping changes to protected files."""

from __future__ import annotations

import fnmatch
import re

FILE_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)


def split_by_file(patch: str) -> list[tuple[str, str]]:
    """(path, section) for each file a git diff touches, in order."""
    starts = list(FILE_HEADER.finditer(patch))
    sections = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(patch)
        sections.append((match.group(2), patch[match.start() : end]))
    return sections


def drop_protected(patch: str, patterns: list[str]) -> tuple[str, list[str]]:
    """The patch without changes to files matching `patterns`, and the paths that were dropped.

    Agents may not edit the tests they are graded by (DGM strips such diffs for SWE-bench; we do it for
    every evaluator, with patterns each evaluator chooses).
    """
    sections = split_by_file(patch)
    if not sections:  # not a git diff: nothing to attribute to files, so nothing can be dropped
        return patch, []
    kept, dropped = [], []
    for path, section in sections:
        if any(fnmatch.fnmatch(path, pattern) for pattern in patterns):
            dropped.append(path)
        else:
            kept.append(section)
    return "".join(kept), dropped
