"""Every "invariant N" in the code names its invariant, with the short name docs/invariants.md gives it, so a
reader of the comment knows which promise it is without a lookup, and a renamed invariant cannot leave stale
comments behind."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| (\d) \| ([^|]+?) \|", re.MULTILINE)
MENTION = re.compile(r"invariant (\d)\b", re.IGNORECASE)
SEPARATOR = " (:,"  # `invariant N (name)`, `invariant N: name`, `(invariant N, name)`
WRAP = re.compile(r"\s*\n[\s#]*")  # a name wrapped onto the next line (of a comment) reads as one


def names() -> dict[str, str]:
    return dict(ROW.findall((REPO / "docs" / "invariants.md").read_text(encoding="utf-8")))


def unnamed(text: str, known: dict[str, str]) -> list[str]:
    """The mentions of an invariant in `text` not followed by that invariant's name."""
    return [
        text[found.start() : found.end() + 40]
        for found in MENTION.finditer(text)
        if not WRAP.sub(" ", text[found.end() : found.end() + 200])
        .lstrip(SEPARATOR)
        .startswith(known.get(found.group(1), "\0"))
    ]


def test_docs_name_all_nine_invariants() -> None:
    assert sorted(names()) == [str(n) for n in range(1, 10)]


def test_every_invariant_comment_names_its_invariant() -> None:
    known = names()
    folders = ("opendgm", "tests", "benchmarks")
    files = [path for folder in folders for path in (REPO / folder).rglob("*.py") if path != Path(__file__).resolve()]
    problems = [
        f"{path.relative_to(REPO)}: {mention!r}"
        for path in files
        for mention in unnamed(path.read_text(encoding="utf-8"), known)
    ]
    assert not problems, "name the invariant as docs/invariants.md does:\n" + "\n".join(problems)


def test_a_bare_or_misnamed_mention_is_reported() -> None:
    known = names()
    assert unnamed("# keyed by hash (invariant 5)", known)
    assert unnamed(f"# invariant 5 ({known['3']})", known)
    assert not unnamed(f"# keyed by hash (invariant 5: {known['5']})", known)
    assert not unnamed(f"Invariant 5 ({known['5']}, docs/invariants.md).", known)
