"""The Aider polyglot benchmark's exercises, brought in once from a local checkout (nothing is downloaded).

The layout kept is the benchmark's own: `<lang>/exercises/practice/<slug>/` with `.docs/`,
`.meta/config.json`, the stubs, the tests and the build files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

EXERCISES = Path("exercises") / "practice"
CONFIG = Path(".meta") / "config.json"


def default_polyglot_dir() -> Path:
    """Where `opendgm data import polyglot` puts the exercises by default (XDG data directory)."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "opendgm" / "polyglot"


def exercise_dirs(root: Path) -> list[Path]:
    """Every `<lang>/exercises/practice/<slug>` folder under `root` that has a `.meta/config.json`."""
    return sorted(config.parents[1] for config in root.glob(f"*/{EXERCISES}/*/{CONFIG}"))


def import_polyglot(source: Path, dest: Path) -> int:
    """Copy the exercises of a local benchmark checkout to `dest`, replacing what was there; how many."""
    exercises = exercise_dirs(source)
    if not exercises:
        raise FileNotFoundError(
            f"{source} holds no <lang>/{EXERCISES}/<slug>/{CONFIG}: give a checkout of Aider-AI/polyglot-benchmark"
        )
    staging = dest.with_name(f".{dest.name}.importing")
    shutil.rmtree(staging, ignore_errors=True)
    for exercise in exercises:
        shutil.copytree(exercise, staging / exercise.relative_to(source), symlinks=True)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)  # a crash mid-copy leaves the previous import whole
    return len(exercises)
