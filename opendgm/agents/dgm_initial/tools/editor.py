"""The editor tool: look at a file or a directory, create a file, or replace a file's whole content.

On purpose there is no partial edit (no replace-this-text, no line ranges): the agent starts with whole-file
writes only, as DGM's initial agent did; finer editing is something a self-improving agent may add.
"""

from __future__ import annotations

import os
from pathlib import Path

SPEC = {
    "name": "editor",
    "description": (
        "View, create or rewrite files; paths must be absolute.\n"
        "- view: a file is shown with line numbers (long files are cut); a directory lists its files and "
        "folders two levels deep, hidden ones left out.\n"
        "- create: write a new file with `file_text`; refused when the path already exists.\n"
        "- edit: replace the entire content of an existing file with `file_text` (write the complete new "
        "file, not a fragment)."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "enum": ["view", "create", "edit"], "description": "What to do."},
            "path": {"type": "string", "description": "Absolute path of the file or directory."},
            "file_text": {"type": "string", "description": "The complete file content, for create and edit."},
        },
        "required": ["command", "path"],
    },
}

VIEW_CHARS = 10_000
VIEW_READ_BYTES = 4 * VIEW_CHARS  # UTF-8 takes at most 4 bytes a character: a longer view is clipped anyway
LISTING_DEPTH = 2


class EditorError(Exception):
    """A request the editor refuses; the message is shown to the model after `Error: `."""


def run(command: str, path: str, file_text: str | None = None) -> str:
    try:
        target = _absolute(path)
        if command == "view":
            return view(target)
        if command not in ("create", "edit"):
            raise EditorError(f"unknown command {command!r}; use view, create or edit")
        if not isinstance(file_text, str):
            raise EditorError(f"`file_text` (the whole file content) is required for {command}")
        return create(target, file_text) if command == "create" else overwrite(target, file_text)
    except EditorError as exc:
        return f"Error: {exc}"
    except OSError as exc:
        return f"Error: {exc.strerror or exc} ({path})"


def _absolute(path: object) -> Path:
    if not isinstance(path, str) or not path:
        raise EditorError("`path` must be a non-empty string")
    if not os.path.isabs(path):
        raise EditorError(f"{path} is not an absolute path; give the full path, starting with /")
    return Path(path)


def view(path: Path) -> str:
    if path.is_dir():
        return _clipped(_listing(path))
    if not path.exists():
        raise EditorError(f"{path} does not exist")
    if not path.is_file():  # a FIFO would block, a device never end
        raise EditorError(f"{path} is not a regular file or a directory")
    numbered = "\n".join(f"{number:6}\t{line}" for number, line in enumerate(_head(path).splitlines(), start=1))
    return _clipped(numbered)


def _head(path: Path) -> str:
    """As much of the file's text as a clipped view can show, however large the file."""
    with path.open("rb") as handle:
        data = handle.read(VIEW_READ_BYTES + 1)
    cut = len(data) > VIEW_READ_BYTES
    data = data[:VIEW_READ_BYTES]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if cut and exc.start >= len(data) - 3:  # the read ended inside a character
            return data[: exc.start].decode("utf-8")
        raise EditorError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); inspect it with bash") from exc


def create(path: Path, text: str) -> str:
    if path.exists() or path.is_symlink():
        raise EditorError(f"{path} already exists; use the edit command to replace its content")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return f"Created {path} ({_lines(text)})."


def overwrite(path: Path, text: str) -> str:
    if not path.exists():
        raise EditorError(f"{path} does not exist; use the create command for a new file")
    if not path.is_file():
        raise EditorError(f"{path} is not a regular file")
    path.write_text(text, encoding="utf-8")
    return f"Replaced the content of {path} ({_lines(text)})."


def _listing(root: Path) -> str:
    lines = [f"{root}/"]
    for folder, subfolders, files in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        if depth >= LISTING_DEPTH:
            subfolders.clear()
        lines += [f"{Path(folder, d)}/" for d in subfolders]
        if depth < LISTING_DEPTH:
            lines += [str(Path(folder, f)) for f in sorted(files) if not f.startswith(".")]
    return "\n".join(sorted(lines))


def _clipped(text: str) -> str:
    if len(text) <= VIEW_CHARS:
        return text
    return (
        f"{text[:VIEW_CHARS]}\n<clipped: only the first {VIEW_CHARS} characters are shown; "
        "use bash (for example sed -n '200,300p' FILE or grep -n) to see the rest>"
    )


def _lines(text: str) -> str:
    count = len(text.splitlines())
    return f"{count} line{'' if count == 1 else 's'}"
