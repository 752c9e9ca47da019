"""Reading a benchmark's task folders on the host: the helpers several benchmarks share live here, never in
one benchmark's module (polyglot and repo-tasks both read exercise and repository trees this way)."""

from __future__ import annotations

from pathlib import Path


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` by relative path (empty when `root` does not exist)."""
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
