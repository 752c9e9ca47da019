"""Working with the agent's diff: splitting it per file and dropping changes to protected files."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Mapping

FILE_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)
COPY_SOURCE = re.compile(r"^copy from (.*)$", re.MULTILINE)


def split_by_file(patch: str) -> list[tuple[str, str, str]]:
    """(old path, new path, section) for each file a git diff touches, in order (they differ on a rename)."""
    starts = list(FILE_HEADER.finditer(patch))
    sections = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(patch)
        sections.append((match.group(1), match.group(2), patch[match.start() : end]))
    return sections


def outside_copies(patch: str) -> list[str]:
    """The sources of the diff's copies that are not plain paths inside the repository. `git apply` checks a
    copy's new path but reads its source wherever it points (`../`, an absolute path, a quoted name that spells
    either), inside a repository or not: such a copy brings the grader's files (the nonce, the hidden tests)
    into the repository before any of the agent's code runs."""
    sources = (source.strip() for source in COPY_SOURCE.findall(patch))
    return [source for source in sources if source.startswith(('"', "/")) or ".." in source.split("/")]


def drop_protected(patch: str, patterns: list[str]) -> tuple[str, list[str]]:
    """The patch without changes to files matching `patterns`, and the paths that were dropped.

    Agents may not edit the tests they are graded by (DGM strips such diffs for SWE-bench; we do it for
    every evaluator, with patterns each evaluator chooses).
    """
    sections = split_by_file(patch)
    if not sections:  # not a git diff: nothing to attribute to files, so nothing can be dropped
        return patch, []
    kept, dropped = [], []
    for old, new, section in sections:
        if any(fnmatch.fnmatch(path, pattern) for path in (old, new) for pattern in patterns):
            dropped.append(new)
        else:
            kept.append(section)
    return "".join(kept), dropped


def unified_diff(path: str, before: str, after: str) -> str:
    """A git-style diff of one text file, which `git apply` accepts."""
    body = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in body)
    return f"diff --git a/{path} b/{path}\n{text}"


def patch_over(existing: Mapping[str, str], new_files: Mapping[str, str]) -> str:
    """A git diff that turns the files of `existing` into `new_files` (paths not in `existing` are added)."""
    patch = ""
    for path, after in sorted(new_files.items()):
        if path in existing:
            patch += unified_diff(path, existing[path], after)
        else:
            body = "".join(difflib.unified_diff([], after.splitlines(keepends=True), "/dev/null", f"b/{path}"))
            patch += f"diff --git a/{path} b/{path}\nnew file mode 100644\n{body}"
            patch += "" if after.endswith("\n") else "\n\\ No newline at end of file\n"
    return patch
