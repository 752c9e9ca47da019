"""Hole 7: agent output is text, never rich markup, in every command that shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.hostile import hostile_agent
from tests.support.llm_fakes import FakeProvider, Reply, completion

PAYLOAD = "[/oops] [bold red]RED[/bold red] [link=file:///etc/passwd]click[/link] [/]"
LOUD = f"print({PAYLOAD!r})\nsys.exit(1)\n"
EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"


def opendgm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}
    command = [sys.executable, "-c", "from opendgm.cli import main; main()", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert "Traceback" not in done.stderr and "MarkupError" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


def test_markup_in_agent_output_is_printed_as_text(backend: str, scratch: Path, fake_provider: FakeProvider) -> None:
    fake_provider.default = Reply(body=completion("Make the agent stop printing brackets in its output, please."))
    agent = hostile_agent(scratch / "agent", LOUD)
    role = {"model": "openai/fake", "api_base": fake_provider.base_url, "timeout_s": 20}
    (scratch / "models.yaml").write_text(yaml.safe_dump({"roles": {"agent": role, "meta": role}}))
    evaluated = scratch / "evaluated"
    run = opendgm(
        "evaluate", str(agent), "-e", "repo-tasks", "-o", f"path={EXAMPLES}", "--subset", "fix-median",
        "--campaign", str(evaluated), "--models", str(scratch / "models.yaml"), "--backend", backend,
    )  # fmt: skip
    assert PAYLOAD in run.stdout, run.stdout
    for command in ("tree", "status"):
        opendgm(command, str(evaluated))
    opendgm("show", str(evaluated), "1")

    config = {
        "name": "markup",
        "seed_agent": str(agent),
        "llm": {"roles": {"agent": role, "meta": role}, "retry": {"attempts": 1}},
        "stages": [{"subset": "HumanEval_0"}],
        "generations": 1,
        "children_per_generation": 1,
        "workers": 1,
        "sandbox": {"backend": backend},
        "self_improve": {"timeout_s": 60, "max_steps": 2, "self_test": False},
    }
    (scratch / "campaign.yaml").write_text(yaml.safe_dump(config))
    campaign = scratch / "campaign"
    opendgm("run", str(scratch / "campaign.yaml"), "--dir", str(campaign))
    shown = [opendgm(command, str(campaign)).stdout for command in ("tree", "status")]
    shown.append(opendgm("show", str(campaign), "2").stdout)
    assert any("[/oops]" in text for text in shown), shown
