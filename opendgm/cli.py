"""The `opendgm` command. Each room contributes its own sub-command group."""

from __future__ import annotations

import errno
import logging
import signal
import sqlite3
import sys
from importlib.metadata import version
from typing import NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

from opendgm.api.cli import evaluate
from opendgm.archive import ArchiveError, NoSpace, cost
from opendgm.archive.cli import app as archive_app
from opendgm.cluster import ClusterProblem
from opendgm.evaluators import EvaluatorProblem, UnknownEvaluator
from opendgm.evaluators.cli import app as evaluators_app
from opendgm.evaluators.data_cli import app as data_app
from opendgm.evolve import EXIT_INFRA, EXIT_LIMIT, EXIT_USAGE, ConfigProblem, StopNow
from opendgm.evolve.cli import run, status
from opendgm.evolve.simulate_cli import simulate
from opendgm.llm import BudgetExceeded, LLMError, LocalServerError
from opendgm.llm.cli import app as llm_app
from opendgm.outcomes import InfrastructureFailure
from opendgm.sandbox import SandboxError
from opendgm.sandbox.cli import app as sandbox_app
from opendgm.tracking import TrackingUnavailable
from opendgm.usage import UsageMistake
from opendgm.web.cli import plot, serve

app = typer.Typer(
    help="opendgm: open-ended self-improvement of coding agents (Darwin Gödel Machine style).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(evaluators_app, name="evaluators")
app.add_typer(data_app, name="data")
app.add_typer(llm_app, name="llm")
app.add_typer(archive_app)  # tree, show, diff, export at the top level
app.command()(evaluate)
app.command()(run)
app.command()(status)
app.command()(simulate)
app.command()(cost)
app.command()(serve)
app.command()(plot)
console = Console(stderr=True)

# Errors a user can act on: shown as one clear message, not a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    SandboxError,
    UnknownEvaluator,
    EvaluatorProblem,
    LLMError,
    LocalServerError,
    ArchiveError,
    ConfigProblem,
    FileNotFoundError,
    TrackingUnavailable,
    UsageMistake,
    ClusterProblem,
)


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
    except NoSpace as error:  # the host's failure: the exit status of a persistent infrastructure failure
        _fail(error, EXIT_INFRA)
    except BudgetExceeded as error:
        _fail(error, EXIT_LIMIT)
    except InfrastructureFailure as error:
        _fail(f"infrastructure failure: {error}; run again to retry", EXIT_INFRA)
    except USER_ERRORS as error:
        _fail(error, EXIT_USAGE)
    except StopNow as now:  # asked for, not an error
        console.print(Text(f"stopped ({now})"))
        sys.exit(now.exit_code)
    except (OSError, sqlite3.DatabaseError) as error:
        problem = environment_problem(error)
        if problem is None:
            raise
        _fail(*problem)


if __name__ == "__main__":
    main()
