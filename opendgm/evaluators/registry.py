"""Finding evaluators: every evaluator, built-in or third-party, is an entry point in `opendgm.evaluators`.

A third-party package adds one with no change to opendgm:

    [project.entry-points."opendgm.evaluators"]
    my-bench = "my_package.bench:MyEvaluator"

The entry point names a factory (usually the Evaluator class) called with the keyword options the user
gives (for example `path=` for `repo-tasks`).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from opendgm.evaluators.base import Evaluator

GROUP = "opendgm.evaluators"


class UnknownEvaluator(KeyError):
    """No evaluator of that name is installed."""

    def __str__(self) -> str:
        return str(self.args[0])


def available() -> dict[str, EntryPoint]:
    """Installed evaluators by name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load(name: str, **options: Any) -> Evaluator:
    """Instantiate the evaluator called `name` with `options`."""
    found = available()
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise UnknownEvaluator(f"unknown evaluator {name!r}; installed: {known}")
    factory = found[name].load()
    evaluator = factory(**options)
    if not isinstance(evaluator, Evaluator):
        raise TypeError(f"entry point {name!r} made a {type(evaluator).__name__}, not an Evaluator")
    return evaluator
