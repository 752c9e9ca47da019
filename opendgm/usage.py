"""How a command ends: a mistake on the command line (a typo in a subset, a missing evaluator option, a node id that
does not exist), which the `opendgm` entry point tells in one line and exits with status 2, without a traceback or a
usage box; the exit statuses; and a stop signal that stops at once. Kept free of heavy imports: the entry point
reads it before it knows which room a command needs."""

from __future__ import annotations

import signal

EXIT_FINISHED = 0
EXIT_USAGE = 2  # a usage or configuration error
EXIT_LIMIT = 3  # stopped at a budget or a limit
EXIT_INFRA = 4  # stopped on a persistent infrastructure failure


class UsageMistake(Exception):
    """Raised where a command finds that what the user typed cannot work; the message says what to type."""


class StopNow(BaseException):
    """A stop signal that stops at once (a second one during `run`): unwinds like KeyboardInterrupt, which Click
    would turn into exit 1, so that the command exits 128 + the signal's number. The archive stays durable."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum
