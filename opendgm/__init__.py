"""opendgm: an open framework for self-improving coding agents in the style of the Darwin Gödel Machine.

The library API (`opendgm.api`): `run(config_or_path, directory)` starts or resumes a campaign,
`evaluate(target, evaluator=..., ...)` runs an agent on an evaluator's tasks, `open_archive(directory)`
reads a campaign's archive, `load_config(path)` reads and validates a campaign config. They are imported
on first use, so `import opendgm.<room>` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opendgm.version import __version__

__all__ = ["__version__", "evaluate", "load_config", "open_archive", "run"]

if TYPE_CHECKING:
    from opendgm.api import evaluate, load_config, open_archive, run


def __getattr__(name: str) -> Any:
    if name in ("run", "evaluate", "open_archive", "load_config"):
        from opendgm import api

        return getattr(api, name)
    raise AttributeError(f"module 'opendgm' has no attribute {name!r}")
