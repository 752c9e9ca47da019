"""Finding evaluators: every evaluator, built-in or third-party, is an entry point in `opendgm.evaluators`.

A third-party package adds one with no change to opendgm:

    [project.entry-points."opendgm.evaluators"]
    my-bench = "my_package.bench:MyEvaluator"

The entry point names a factory (usually the Evaluator class) called with the keyword options the user
gives (for example `path=` for `repo-tasks`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError

from opendgm.evaluators.base import Evaluator, EvaluatorProblem

GROUP = "opendgm.evaluators"


class UnknownEvaluator(KeyError):
    """No evaluator of that name is installed."""

    def __str__(self) -> str:
        return str(self.args[0])


class BadOptions(EvaluatorProblem, TypeError):
    """Options the evaluator does not declare, or of the wrong type (a TypeError, as a wrong keyword is)."""


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
    evaluator = factory(**checked_options(name, factory, options))
    if not isinstance(evaluator, Evaluator):
        raise TypeError(f"entry point {name!r} made a {type(evaluator).__name__}, not an Evaluator")
    return evaluator


def checked_options(name: str, factory: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The options validated in one place: against the evaluator's declared `Options` (converted to their types,
    so `-o limit=3` is an int), or, for a factory without a declaration, against its signature."""
    declared = getattr(factory, "Options", None)
    if declared is not None:
        try:
            return declared.model_validate(options).model_dump(exclude_unset=True)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
            known = ", ".join(declared.model_fields) or "none"
            raise BadOptions(f"evaluator {name!r} options: {problems} (it takes: {known})") from None
    try:
        inspect.signature(factory).bind_partial(**options)
    except TypeError as exc:
        raise BadOptions(f"evaluator {name!r} options: {exc}") from None
    except ValueError:  # no signature to check against (a builtin): the call itself will tell
        pass
    return options
