"""With stdout in a file (nohup, a batch scheduler), `opendgm run` and `opendgm evaluate` print a plain line per
event and a heartbeat line within seconds, never markup nor an agent's control characters; in a terminal the
live view moves on a timer (elapsed time, tasks in flight) even when no result lands."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml
from rich.console import Console

from opendgm.archive import Archive
from opendgm.archive.progress import Plan, ProgressLines
from opendgm.evaluators.in_flight import IN_FLIGHT
from opendgm.evaluators.task import Task
from opendgm.evolve.config import CampaignConfig
from opendgm.evolve.display import LiveView
from opendgm.evolve.stopping import EXIT_LIMIT
from opendgm.llm.ledger import CallRecord
from tests.evolve.test_campaign import TASKS, config
from tests.support.scripted_models import CapabilityScript

STAMP = re.compile(r"^\[\d+:\d\d:\d\d\] ")
HOSTILE = "\x1b[2J[bold red]pwned[/]\nforged line\r\u202eevil <script>x</script>"


def _opendgm(args: list[str], out: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as stdout:
        return subprocess.Popen(
            [sys.executable, "-m", "opendgm.cli", *args], stdout=stdout, stderr=subprocess.PIPE, cwd=cwd
        )


def _wait_for(out: Path, child: subprocess.Popen[bytes], wanted: list[str], within_s: float) -> float:
    """Seconds until every `wanted` text is in the file (the test fails past `within_s`)."""
    started = time.monotonic()
    while not all(text in out.read_text() for text in wanted):
        assert time.monotonic() - started < within_s, f"not within {within_s} s:\n{out.read_text()}"
        assert child.poll() is None or all(text in out.read_text() for text in wanted), out.read_text()
        time.sleep(0.2)
    return time.monotonic() - started


def _plain_lines(text: str) -> list[str]:
    lines = text.splitlines()
    assert lines and all(STAMP.match(line) or line.startswith(("campaign stopped:", "inspect it:")) for line in lines)
    assert "\x1b" not in text, "no terminal codes in a log file"
    return lines


def test_a_campaign_logged_to_a_file_prints_events_and_heartbeats_at_once(
    script: CapabilityScript, local_isolation: None, tmp_path: Path
) -> None:
    campaign = config(script, "local", budget={"nodes": 0})  # the seed's evaluation, then a stop at the limit
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign.model_dump(mode="json")))
    out = tmp_path / "run.log"
    child = _opendgm(["run", str(path), "--dir", str(tmp_path / "c"), "--heartbeat", "0.5"], out, tmp_path)
    try:
        took = _wait_for(out, child, ["heartbeat: elapsed", "was added", "moved from"], within_s=30)
        _, errors = child.communicate(timeout=240)
    finally:
        child.kill()
    assert child.returncode == EXIT_LIMIT, errors.decode()  # the node budget of 0 is a limit's stop
    lines = _plain_lines(out.read_text())
    text = "\n".join(lines)
    results = [re.search(rf"n\d+ (did not )?resolve(d)? task {task}", text) for task in TASKS.split(",")]
    assert all(results), text
    stage = re.search(rf"n\d+ finished stage 1:{TASKS} of humaneval: 0/2 resolved", text)
    assert stage and stage.start() > max(found.start() for found in results if found), "after its results"
    heartbeat = next(line for line in lines if "heartbeat:" in line)
    assert re.search(r"tasks \d+/2 done, \d+ in flight.*spend \$\d+\.\d{4}.*ETA ", heartbeat), heartbeat
    assert "the campaign stopped: nodes: 0 of 0 children created" in text
    print(f"first heartbeat and event lines after {took:.1f} s")  # the issue asks for 30 s at most


def test_evaluate_logged_to_a_file_prints_each_result_and_heartbeats(
    script: CapabilityScript, local_isolation: None, tmp_path: Path
) -> None:
    role = config(script, "local").llm.roles["agent"].model_dump(mode="json")
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"roles": {"agent": role}}))
    out = tmp_path / "evaluate.log"
    args = ["evaluate", "seed", "--subset", "HumanEval_0", "--models", str(models), "--backend", "local"]
    child = _opendgm([*args, "--campaign", str(tmp_path / "e"), "--heartbeat", "0.5"], out, tmp_path)
    _, errors = child.communicate(timeout=240)
    assert child.returncode == 0, errors.decode()
    lines = out.read_text().splitlines()
    assert all(STAMP.match(line) for line in lines[1:-2]), lines  # between the first line and the summary
    result = r"^\[[\d:]+\] n0001 did not resolve task HumanEval_0: empty_patch \(the agent left the repository \w+\)$"
    assert re.search(result, "\n".join(lines), re.M), lines
    assert any(
        line.endswith("n0001 finished stage HumanEval_0 of humaneval: 0/1 resolved (score 0.00)") for line in lines
    )
    assert any("heartbeat: elapsed" in line and "tasks 0/1 done, 1 in flight" in line for line in lines), lines
    assert lines[-1] == f"details: opendgm show {tmp_path / 'e'} n0001", "one line however long the path"


def test_agent_written_text_stays_one_inert_line(tmp_path: Path) -> None:
    """A reason (and a task id) from an agent holds escape codes, rich markup, a newline and a bidi override."""
    with Archive.create(tmp_path / "a", "hostile") as archive:
        seed = Path(__file__).parents[2] / "opendgm" / "agents" / "seed"
        node = archive.add_agent(seed, operator="seed")
        since = archive.last_event_id()
        written: list[str] = []
        lines = ProgressLines(archive, Plan(1, lambda _a: 0), written.append, lambda: [("n0001", HOSTILE, 3.0)], since)
        archive.set_status(node.id, "rejected", HOSTILE)
        archive.log_event("task_infrastructure_failure", node.id, {"task": HOSTILE, "detail": HOSTILE})
        assert lines.events() == 2
        lines.heartbeat()
    assert len(written) == 3, written
    for line in written:
        assert not any(char in line for char in "\x1b\n\r\u202e"), line
        assert "\\x1b[2J[bold red]pwned[/]\\nforged line\\r\\u202eevil <script>x</script>" in line, line


def test_spend_passing_a_share_of_the_budget_is_said_once(tmp_path: Path) -> None:
    with Archive.create(tmp_path / "a", "spend") as archive:
        written: list[str] = []
        lines = ProgressLines(archive, Plan(None, lambda _a: 0, usd=1.0), written.append, list, 0)
        for cost in (0.3, 0.3, 0.1, 0.3):  # 0.6 passes 50%; 0.7 nothing new; 1.0 passes 80% and 95%
            archive.ledger.record(CallRecord(archive.campaign, None, "meta", "diagnose", "m", "ok", 10, 5, cost))
            archive.log_event("generation", data={"generation": 0})
            lines.events()
    said = [line.split("] ", 1)[1] for line in written if "budget:" in line]
    assert said == ["budget: $0.6000 of $1 spent (60%)", "budget: $1.0000 of $1 spent (100%)"], written


def test_the_live_view_moves_on_a_timer_and_names_the_tasks_in_flight(tmp_path: Path) -> None:
    with Archive.create(tmp_path / "c", "live") as archive:  # an agent's words in the table's recent events
        node = archive.add_agent(Path(__file__).parents[2] / "opendgm" / "agents" / "seed", operator="seed")
        archive.set_status(node.id, "rejected", HOSTILE)
    roles = {"agent": {"model": "openai/m"}, "meta": {"model": "openai/m"}}
    view = LiveView(tmp_path / "c", CampaignConfig.model_validate({"name": "live", "llm": {"roles": roles}}), lambda: 1)
    release = threading.Event()
    task = Task(id="HumanEval_7", statement="")
    worker = threading.Thread(target=IN_FLIGHT.tracking("n0003", lambda _task: release.wait(10)), args=(task,))
    worker.start()
    try:
        first = _render(view)
        time.sleep(1.1)
        second = _render(view)
    finally:
        release.set()
        worker.join()
        view.close()
    assert "1 tasks in flight" in first and "n0003 HumanEval_7 (0:00:0" in first, first
    assert "campaign live" in first, "the status table is there too"
    assert _elapsed(first) < _elapsed(second), (first, second)
    assert "\x1b" not in first + second and "\\x1b[2J[bold red]pwned[/]\\nforged line" in first, first


def _render(view: LiveView) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(view)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _elapsed(text: str) -> int:
    h, m, s = map(int, re.search(r"elapsed (\d+):(\d\d):(\d\d)", text).groups())  # type: ignore[union-attr]
    return h * 3600 + m * 60 + s
