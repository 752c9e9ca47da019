"""Hole 7: agent output is text, never rich markup, in every command that shows it."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tests.support.cli_batch import run_commands
from tests.support.hostile import hostile_agent
from tests.support.llm_fakes import FakeProvider, Reply, completion

PAYLOAD = "[/oops] [bold red]RED[/bold red] [link=file:///etc/passwd]click[/link] [/]"
LOUD = f"print({PAYLOAD!r})\nsys.exit(1)\n"
EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"


def opendgm(*argvs: tuple[str, ...]) -> list[str]:
    """Each command line's stdout; the command lines run one after the other in one `opendgm` process."""
    shown = []
    for done in run_commands(argvs, env={**os.environ, "COLUMNS": "400"}, timeout=900):
        assert "Traceback" not in done.stderr and "MarkupError" not in done.stderr, done.stderr[-3000:]
        assert done.returncode == 0, (done.args, done.stdout[-2000:], done.stderr[-2000:])
        shown.append(done.stdout)
    return shown


def test_markup_in_agent_output_is_printed_as_text(backend: str, scratch: Path, fake_provider: FakeProvider) -> None:
    fake_provider.default = Reply(body=completion("Make the agent stop printing brackets in its output, please."))
    agent = hostile_agent(scratch / "agent", LOUD)
    role = {"model": "openai/fake", "api_base": fake_provider.base_url, "timeout_s": 20}
    (scratch / "models.yaml").write_text(yaml.safe_dump({"roles": {"agent": role, "meta": role}}))
    evaluated = scratch / "evaluated"
    run, *_ = opendgm(
        ("evaluate", str(agent), "-e", "repo-tasks", "-o", f"path={EXAMPLES}", "--subset", "fix-median",
         "--campaign", str(evaluated), "--models", str(scratch / "models.yaml"), "--backend", backend),
        ("tree", str(evaluated)), ("status", str(evaluated)), ("show", str(evaluated), "1"),
    )  # fmt: skip
    assert PAYLOAD in run, run

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
    _, *shown = opendgm(
        ("run", str(scratch / "campaign.yaml"), "--dir", str(campaign)),
        ("tree", str(campaign)), ("status", str(campaign)), ("show", str(campaign), "2"),
    )  # fmt: skip
    assert any("[/oops]" in text for text in shown), shown
