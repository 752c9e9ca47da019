"""CLI output a researcher pipes, parses or watches: `--version`, `status --json/--watch`, `diff | git apply`,
`tree --depth/--all`, and `evaluators verify -o`; run as the real `opendgm` process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from opendgm.archive.best import best_agent
from opendgm.llm.ledger import CallRecord
from tests.support.archive_helpers import write_tree
from tests.support.cli_batch import run_commands

EXAMPLE_TASKS = Path(__file__).parents[1] / "examples" / "repo-tasks"


def opendgm(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real command with stdout a pipe (not a terminal), as a script or `nohup` sees it."""
    return subprocess.run(
        [sys.executable, "-m", "opendgm.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-deep lineage of evaluated agents (6 tasks each), one rejected child, free and paid model calls."""
    work = tmp_path_factory.mktemp("cli")
    root = work / "campaign"
    with Archive.create(root, "chain") as archive:
        parent = None
        for depth in range(40):
            files = {"agent.py": f"def solve():\n    return {depth}\n", "README.md": "an agent\n"}
            node = archive.add_agent(write_tree(work / "code", files), parent, operator="self_improve")
            archive.set_status(node.id, "evaluating")
            archive.record_stage(node.id, "toy", "1", "all", [f"t{i}" for i in range(6)])
            for i in range(6):
                status = "resolved" if i < depth % 7 else "unresolved"
                archive.record_result(ResultRecord(node.id, EvaluatorKey("toy", "1"), f"t{i}", status=status))
            archive.set_status(node.id, "evaluated")
            parent = node.id
        rejected = archive.propose("agent", "n0001", operator="self_improve")
        archive.set_status(rejected.id, "rejected", "the child does not compile")
        for role, cost in (("agent", 0.0), ("agent", 0.0), ("meta", 0.25)):
            archive.ledger.record(CallRecord("chain", "n0002", role, "test", "m", "ok", 100, 20, cost))
        archive.log_event("generation", data={"generation": 0, "parents": [], "children": []})
    return root


@pytest.fixture(scope="module")
def shown(chain: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """The commands that only read `chain`, run one after the other by one `opendgm` process (one import)."""
    commands = {
        "version": ("--version",),
        "status": ("status", chain, "--json"),
        "diff": ("diff", chain, "n0003", "n0030"),
        "tree cut": ("tree", chain, "--depth", "5"),
        "tree all": ("tree", chain, "--all"),
    }
    return dict(zip(commands, run_commands(commands.values()), strict=True))


def test_version_is_the_installed_one(shown: dict[str, subprocess.CompletedProcess[str]]) -> None:
    done = shown["version"]
    assert done.returncode == 0 and done.stdout == f"opendgm {version('opendgm')}\n"


def test_status_json_parses_and_matches_the_archive(
    chain: Path, shown: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    done = shown["status"]
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    with Archive.open(chain, readonly=True) as archive:
        rows = archive.summaries(kind=None)
        best = best_agent(rows)
        spent = archive.ledger.totals()
        nodes = archive.nodes()
    assert document["campaign"] == "chain" and document["nodes"] == len(nodes) == 41
    assert document["agents_by_status"] == {"evaluated": 40, "rejected": 1}
    assert document["generations"] == 1 and document["task_evaluations"] == 240
    assert best is not None and document["best"]["id"] == best.id and document["best"]["value"] == best.value
    assert document["best_path"][0] == "n0001" and document["best_path"][-1] == best.id
    assert document["spend"]["cost_usd"] == spent.cost_usd == 0.25 and document["spend"]["tokens"] == 360
    assert document["spend_by_role"]["agent"] == {"cost_usd": 0.0, "tokens": 240, "calls": 2, "errors": 0}


def _ctrl_c_reaches_it() -> None:
    """In the child: SIGINT as a terminal delivers it (a batch runner may start the suite with it ignored or
    blocked, and children inherit both)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_status_watch_prints_a_json_line_per_refresh_until_ctrl_c(chain: Path) -> None:
    watcher = subprocess.Popen(
        [sys.executable, "-m", "opendgm.cli", "status", str(chain), "--json", "--watch", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_reaches_it,
    )
    try:
        first, second = json.loads(watcher.stdout.readline()), json.loads(watcher.stdout.readline())  # type: ignore[union-attr]
        assert first["nodes"] == second["nodes"] == 41
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(30) == 0, watcher.stderr.read()  # type: ignore[union-attr]
    finally:
        watcher.kill()
        watcher.wait()


def test_diff_pipes_into_git_apply(
    chain: Path, shown: dict[str, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    done = shown["diff"]
    assert done.returncode == 0 and done.stdout.startswith("diff --git a/agent.py b/agent.py\n")
    assert all(line == line.rstrip() for line in done.stdout.splitlines()), "lines padded to a width"
    with Archive.open(chain, readonly=True) as archive:
        checkout = archive.materialize("n0003", tmp_path / "n0003")
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    check = subprocess.run(["git", "apply", "--check", "-"], cwd=checkout, input=done.stdout, text=True)
    assert check.returncode == 0
    subprocess.run(["git", "apply", "-"], cwd=checkout, input=done.stdout, text=True, check=True)
    assert (checkout / "agent.py").read_text() == "def solve():\n    return 29\n"


def test_tree_says_when_it_cuts_deep_nodes_and_shows_them_on_request(
    shown: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    cut = shown["tree cut"]
    assert cut.returncode == 0
    lines = [line for line in cut.stdout.splitlines() if "── n0" in line]
    assert len(lines) == 7  # depths 0..5 of the lineage and the rejected child under the root
    assert cut.stderr.strip() == "34 nodes deeper than depth 5 not shown: pass --depth N or --all"
    everything = shown["tree all"]
    assert everything.returncode == 0 and everything.stderr == ""
    assert all(f"n{i:04d} agent" in everything.stdout for i in range(1, 42))
    assert "★ best" in everything.stdout and "best agent n00" in everything.stdout


def test_evaluators_verify_takes_evaluator_options(local_isolation: None) -> None:
    done = opendgm(
        "evaluators", "verify", "repo-tasks", "-o", f"path={EXAMPLE_TASKS}", "--subset", "all",
        "--solution", "stub", "--backend", "local", timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stub: 0/2 resolved (expected 0/2)" in done.stdout


def test_watch_refreshes_see_a_live_writer(chain: Path, tmp_path: Path) -> None:
    """`status --watch` re-reads the archive: a node added meanwhile shows in a later line."""
    live = tmp_path / "live"
    subprocess.run(["cp", "-r", str(chain), str(live)], check=True)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "opendgm.cli", "status", str(live), "--json", "--watch", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_reaches_it,
    )
    try:
        assert json.loads(watcher.stdout.readline())["nodes"] == 41  # type: ignore[union-attr]
        with Archive.open(live) as writer:
            writer.add_node("prompt", "Be brief.", operator="seed")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if json.loads(watcher.stdout.readline())["nodes"] == 42:  # type: ignore[union-attr]
                break
        else:
            pytest.fail("the watch never showed the new node")
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(30)
