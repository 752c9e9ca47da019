"""The `opendgm` command. Each room contributes its own sub-command group.

A command's room is imported only when that command runs (`--help` lists them all, so it imports them all): the
rooms pull in pydantic models, httpx, docker, numpy, networkx and fastapi, which cost seconds to import. The
entry point itself reads only light modules; the errors it turns into one line are looked up in the rooms a
command imported (an error cannot come from a room that was never imported).
"""

from __future__ import annotations

import errno
import importlib
import logging
import signal
import sqlite3
import sys
from collections.abc import Iterator, MutableMapping
from importlib.metadata import version
from typing import Any, NoReturn

import typer
import typer.core
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

from opendgm.usage import EXIT_INFRA, EXIT_LIMIT, EXIT_USAGE, StopNow, UsageMistake

# Where each command lives, in typer's order (`--help` lists commands, then groups): a command (a function), a
# sub-command group (a room's typer app, mounted under the name), or a command of a room's typer app whose commands
# sit at the top level.
COMMANDS = {
    "evaluate": "opendgm.api.cli:evaluate",
    "run": "opendgm.evolve.cli:run",
    "status": "opendgm.evolve.cli:status",
    "simulate": "opendgm.evolve.simulate_cli:simulate",
    "cost": "opendgm.archive:cost",
    "serve": "opendgm.web.cli:serve",
    "plot": "opendgm.web.cli:plot",
}
GROUPS = {
    "sandbox": "opendgm.sandbox.cli:app",
    "evaluators": "opendgm.evaluators.cli:app",
    "data": "opendgm.evaluators.data_cli:app",
    "llm": "opendgm.llm.cli:app",
}
TOP_LEVEL = {name: "opendgm.archive.cli:app" for name in ("tree", "show", "diff", "export", "doctor")}
LAZY = {**COMMANDS, **GROUPS, **TOP_LEVEL}


def _load(name: str) -> Any:
    """The click command `name` stands for, built by typer exactly as an eager `command`/`add_typer` would."""
    module, _, attribute = LAZY[name].partition(":")
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer()
    if name in COMMANDS:
        holder.command()(target)
    else:
        holder.add_typer(target, name=name if name in GROUPS else None)
    return typer.main.get_group(holder).commands[name]


class _Commands(MutableMapping[str, Any]):
    """A group's commands: every name known at once, each command built the first time it is asked for."""

    def __init__(self, eager: MutableMapping[str, Any]) -> None:
        self._names = [*COMMANDS, *(name for name in eager if name not in LAZY), *GROUPS, *TOP_LEVEL]
        self._built = dict(eager)

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in LAZY:
                raise KeyError(name)
            self._built[name] = _load(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)


class LazyGroup(typer.core.TyperGroup):
    """The top-level group: lists every command by name, imports a command's room when it is resolved."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)


app = typer.Typer(
    cls=LazyGroup,
    help="opendgm: open-ended self-improvement of coding agents (Darwin Gödel Machine style).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

# Errors a user can act on, shown as one clear message and not a traceback: (room face, class name), checked only
# in rooms already imported. `FileNotFoundError` and `UsageMistake` are always there.
USER_ERRORS = (
    ("opendgm.sandbox", "SandboxError"),
    ("opendgm.evaluators", "UnknownEvaluator"),
    ("opendgm.evaluators", "EvaluatorProblem"),
    ("opendgm.llm", "LLMError"),
    ("opendgm.llm", "LocalServerError"),
    ("opendgm.archive", "ArchiveError"),
    ("opendgm.evolve", "ConfigProblem"),
    ("opendgm.tracking", "TrackingUnavailable"),
    ("opendgm.cluster", "ClusterProblem"),
)


def loaded_errors(*names: tuple[str, str]) -> tuple[type[BaseException], ...]:
    """The named error classes of the rooms imported so far."""
    found = (getattr(sys.modules.get(face), name, None) for face, name in names)
    return tuple(each for each in found if each is not None)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"opendgm {version('opendgm')}")
        raise typer.Exit()


@app.callback()
def _configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details."),
    _version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the installed version and exit."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    for noisy in ("urllib3", "docker"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def selfcheck(
    backend: str = typer.Option("auto", help="auto | docker | local"),
) -> None:
    """Set up and verify everything opendgm needs here: runtime image and sandbox containment."""
    from opendgm.sandbox import DEFAULT_IMAGE, choose_backend
    from opendgm.sandbox import cli as sandbox_cli

    chosen = choose_backend(sandbox_cli.backend_option(backend))
    if chosen == "docker":
        sandbox_cli.build(tag=DEFAULT_IMAGE, pull=False, force=False)
    sandbox_cli.check(backend=chosen, image=DEFAULT_IMAGE)


def environment_problem(error: BaseException) -> tuple[str, int] | None:
    """The one line and exit status for a full disk (the host's failure: 4) or a database SQLite finds damaged
    after opening it (2); None for anything else."""
    full = isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    if full or (isinstance(error, sqlite3.OperationalError) and "full" in str(error)):
        where = getattr(error, "filename", None) or "the campaign directory's filesystem"
        return f"no space left on the device ({where}): free some space and run the command again", 4
    if isinstance(error, sqlite3.DatabaseError) and any(word in str(error) for word in ("malformed", "not a database")):
        return f"an archive database is damaged ({error}); check it: `opendgm doctor CAMPAIGN_DIR`", 2
    return None


def _fail(message: object, status: int) -> NoReturn:
    console.print(Text.assemble(("error:", "red"), f" {message}"), soft_wrap=True)
    sys.exit(status)


def _stop_now(signum: int, _frame: object) -> None:
    raise StopNow(signum)


def main() -> None:
    """Console entry point: user-facing errors print as one line and exit with status 2 (4 for a full disk); a
    spent budget exits 3, a persistent infrastructure failure 4, a stop signal 128 + its number (SIGTERM and
    SIGHUP unwind like Ctrl-C, so sandboxes are closed on the way out; `run` finishes its work in flight first)."""
    for each in (signal.SIGTERM, signal.SIGHUP):  # SIGINT stays Click's (`status --watch` ends on it, exit 0)
        signal.signal(each, _stop_now)
    try:
        app()
    except StopNow as now:  # asked for, not an error
        console.print(Text(f"stopped ({now})"))
        sys.exit(now.exit_code)
    except Exception as error:
        if isinstance(error, loaded_errors(("opendgm.archive", "NoSpace"))):  # the host's failure
            _fail(error, EXIT_INFRA)
        if isinstance(error, loaded_errors(("opendgm.llm", "BudgetExceeded"))):
            _fail(error, EXIT_LIMIT)
        if isinstance(error, loaded_errors(("opendgm.outcomes", "InfrastructureFailure"))):
            _fail(f"infrastructure failure: {error}; run again to retry", EXIT_INFRA)
        if isinstance(error, (FileNotFoundError, UsageMistake, *loaded_errors(*USER_ERRORS))):
            _fail(error, EXIT_USAGE)
        problem = environment_problem(error) if isinstance(error, (OSError, sqlite3.DatabaseError)) else None
        if problem is None:
            raise
        _fail(*problem)


if __name__ == "__main__":
    main()
