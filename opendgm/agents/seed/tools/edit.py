"""File editing helper for the agent's shell: view, create, str_replace, insert. Standard library only.

    python3 tools/edit.py view FILE [--start N] [--end M]
    python3 tools/edit.py create FILE <<'EOF' ... EOF          (content from stdin)
    python3 tools/edit.py str_replace FILE --old TEXT --new TEXT
    python3 tools/edit.py insert FILE --line N <<'EOF' ... EOF   (after line N; 0 = at the top)

Edits are exact: `str_replace` refuses when the old text is missing or appears more than once, so a
model never changes a place it did not mean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class EditError(Exception):
    """An edit that cannot be made as asked; the message tells the model what to do instead."""


def view(path: Path, start: int = 1, end: int | None = None) -> str:
    if path.is_dir():
        return "\n".join(sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir()))
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    end = len(lines) if end is None else min(end, len(lines))
    return "\n".join(f"{n:6d}\t{lines[n - 1]}" for n in range(max(start, 1), end + 1))


def create(path: Path, content: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return f"created {path} ({len(content.splitlines())} lines)"


def str_replace(path: Path, old: str, new: str) -> str:
    text = path.read_text(encoding="utf-8")
    count = text.count(old)
    if count == 0:
        raise EditError(f"the old text was not found in {path}; view the file and copy it exactly")
    if count > 1:
        raise EditError(f"the old text appears {count} times in {path}; include more context to make it unique")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return f"replaced 1 occurrence in {path}"


def insert(path: Path, line: int, content: str) -> str:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if not 0 <= line <= len(lines):
        raise EditError(f"line {line} is outside {path} (0..{len(lines)})")
    addition = content if content.endswith("\n") else content + "\n"
    path.write_text("".join(lines[:line]) + addition + "".join(lines[line:]), encoding="utf-8")
    return f"inserted {len(addition.splitlines())} lines after line {line} of {path}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="view and edit files")
    parser.add_argument("command", choices=["view", "create", "str_replace", "insert"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--start", type=int, default=1)
    parser.add_argument("--end", type=int)
    parser.add_argument("--old")
    parser.add_argument("--new")
    parser.add_argument("--line", type=int)
    args = parser.parse_args(argv)
    try:
        if args.command == "view":
            print(view(args.path, args.start, args.end))
        elif args.command == "create":
            print(create(args.path, sys.stdin.read()))
        elif args.command == "str_replace":
            if args.old is None or args.new is None:
                raise EditError("str_replace needs --old and --new")
            print(str_replace(args.path, args.old, args.new))
        else:
            if args.line is None:
                raise EditError("insert needs --line")
            print(insert(args.path, args.line, sys.stdin.read()))
    except (EditError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
