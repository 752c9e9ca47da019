"""A mistake on the command line (a typo in a subset, a missing evaluator option, a node id that does not exist):
the `opendgm` entry point tells it in one line and exits with status 2, without a traceback or a usage box."""

from __future__ import annotations


class UsageMistake(Exception):
    """Raised where a command finds that what the user typed cannot work; the message says what to type."""
