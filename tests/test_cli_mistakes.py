"""Issue 17's user mistakes, typed as a user types them: each is one line on stderr and exit status 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from opendgm.archive import Archive

SEED = Path(__file__).parents[1] / "opendgm" / "agents" / "seed"
# One process runs the real entry point (`opendgm.cli.main`) on each command line in turn (one import, not ten):
# its exit status and everything it wrote to stdout and stderr, with the traceback Python would print.
DRIVER = """
import contextlib, io, json, sys, traceback
from opendgm.cli import main
ran = []
for argv in json.loads(sys.argv[1]):
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = ["opendgm", *argv]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    ran.append((code, out.getvalue(), err.getvalue()))
print(json.dumps(ran))
"""
ROLES = {"agent": {"model": "openai/m", "api_base": "http://127.0.0.1:9"}, "meta": {"model": "openai/m"}}


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, int, str, str]]:
    """Every mistake, as the entry point answers it: (expected words, exit status, stdout, stderr)."""
    root = tmp_path_factory.mktemp("mistakes")
    with Archive.create(root / "camp", "camp") as archive:
        for _ in range(3):
            archive.add_agent(SEED, operator="seed")
    typo = root / "typo.yaml"
    fields = {"name": "t", "llm": {"roles": ROLES}, "stages": [{"subset": "smal"}], "sandbox": {"backend": "local"}}
    typo.write_text(yaml.safe_dump(fields))
    camp = str(root / "camp")
    cases = {
        "run: a subset typo": (["run", str(typo), "--dir", str(root / "t")], "did you mean 'small'?"),
        "evaluate: a subset typo": (["evaluate", "--subset", "smal", "--backend", "local"], "did you mean 'small'?"),
        "evaluate: repo-tasks without its path": (["evaluate", "-e", "repo-tasks"], "path: Field required"),
        "verify: repo-tasks without -o path": (["evaluators", "verify", "repo-tasks"], "path: Field required"),
        "evaluate: an option that is not KEY=VALUE": (["evaluate", "-o", "path"], "got 'path'"),
        "evaluate: a mistyped agent path": (
            ["evaluate", "./agnets/mine", "--backend", "local", "--campaign", str(root / "adhoc")],
            "no agent directory ./agnets/mine",
        ),
        "show: a mistyped node id": (["show", camp, "n0O02"], "close: n0002"),
        "diff: a mistyped node id": (["diff", camp, "n0001", "n00o3"], "close: n0003"),
        "export: an unknown table": (["export", camp, "--what", "nodez"], "unknown table 'nodez'"),
        "status: no such campaign": (["status", str(root / "nowhere")], "does not exist"),
    }
    argvs = json.dumps([args for args, _ in cases.values()])
    done = subprocess.run([sys.executable, "-c", DRIVER, argvs], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ran = json.loads(done.stdout)
    return {name: (expected, *result) for (name, (_, expected)), result in zip(cases.items(), ran, strict=True)}


CASES = [
    "run: a subset typo",
    "evaluate: a subset typo",
    "evaluate: repo-tasks without its path",
    "verify: repo-tasks without -o path",
    "evaluate: an option that is not KEY=VALUE",
    "evaluate: a mistyped agent path",
    "show: a mistyped node id",
    "diff: a mistyped node id",
    "export: an unknown table",
    "status: no such campaign",
]


@pytest.mark.parametrize("case", CASES)
def test_a_mistake_is_one_line_and_exit_2(mistakes: dict[str, tuple[str, int, str, str]], case: str) -> None:
    expected, code, out, err = mistakes[case]
    assert "Traceback" not in out + err, err
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
