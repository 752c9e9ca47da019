"""The `opendgm` entry point imports a command's room only when that command runs, and still offers every command
and turns every room's user errors into one line."""

from __future__ import annotations

import importlib
import subprocess
import sys

import typer

from opendgm import cli

ROOMS = ("opendgm.archive", "opendgm.evolve", "opendgm.llm", "opendgm.sandbox", "opendgm.evaluators", "opendgm.web")


def test_every_listed_command_loads_under_its_name() -> None:
    for name in cli.LAZY:
        assert cli._load(name).name == name


def test_a_room_app_mounted_at_the_top_level_has_every_command_listed() -> None:
    for where in set(cli.TOP_LEVEL.values()):
        module, _, attribute = where.partition(":")
        mounted = typer.main.get_group(getattr(importlib.import_module(module), attribute))
        assert {name for name, target in cli.TOP_LEVEL.items() if target == where} == set(mounted.commands)


def test_every_user_error_names_an_exception_of_its_room() -> None:
    for face, name in (*cli.USER_ERRORS, ("opendgm.archive", "NoSpace"), ("opendgm.llm", "BudgetExceeded")):
        assert issubclass(getattr(importlib.import_module(face), name), Exception), (face, name)
    assert issubclass(importlib.import_module("opendgm.outcomes").InfrastructureFailure, Exception)


def test_version_and_a_room_command_import_only_what_they_run() -> None:
    probe = (
        "import sys; from opendgm.cli import main; sys.argv = ['opendgm', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(room for room in {ROOMS!r} if room in sys.modules))"
    )
    loaded = {}
    for argv in (["--version"], ["sandbox", "--help"]):
        done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
        loaded[argv[0]] = done.stdout.splitlines()[-1]
    assert loaded == {"--version": "[]", "sandbox": "['opendgm.sandbox']"}
