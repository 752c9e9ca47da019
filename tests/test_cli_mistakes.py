"""Issue 17's user mistakes, typed as a user types them: each is one line on stderr and exit status 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from opendgm.archive import Archive
from tests.support.cli_batch import run_commands

SEED = Path(__file__).parents[1] / "opendgm" / "agents" / "seed"
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
    # One process runs the real entry point on each command line in turn (one import, not ten).
    ran = run_commands([args for args, _ in cases.values()], cwd=root)
    return {
        name: (expected, done.returncode, done.stdout, done.stderr)
        for (name, (_, expected)), done in zip(cases.items(), ran, strict=True)
    }


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
