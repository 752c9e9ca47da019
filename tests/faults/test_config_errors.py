"""Issue 13: a role whose `api_key_env` names an unset variable is a config error (exit 2, one line, before any
work), not an infrastructure stop (exit 4) in the middle of a campaign."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

UNSET = "OPENDGM_TEST_KEY_NOBODY_SET"
FREE = {"model": "openai/m", "api_base": "http://127.0.0.1:9", "price": {"prompt": 0, "completion": 0}}
ROLE = FREE | {"api_key_env": UNSET}


@pytest.mark.parametrize("kind", ["agent", "prompt"])
def test_an_unset_key_variable_is_one_line_exit_2_before_the_campaign_starts(tmp_path: Path, kind: str) -> None:
    roles = {"agent": FREE, "meta": ROLE}
    config = {"name": "keys", "llm": {"roles": roles}, "sandbox": {"backend": "local"}}
    if kind == "prompt":
        config = {
            "kind": "prompt",
            "name": "keys",
            "dataset": {"builtin": "reverse"},
            "llm": {"roles": {"target": FREE, "meta": ROLE}},
        }
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k != UNSET}
    done = subprocess.run(
        [sys.executable, "-m", "opendgm.cli", "run", str(path), "--dir", str(tmp_path / "c")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    said = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, said
    assert len(said.splitlines()) == 1 and UNSET in said and "role meta" in said, said
    assert "Traceback" not in said
    assert not (tmp_path / "c").exists()  # checked before anything was made
