"""Invariant 3 (state durable before it is acted on) under fire: a campaign SIGKILLed at N random moments,
resumed each time, ends as if never killed.

An uninterrupted reference run of the scripted campaign (tests/support/scripted_models.py, served on
loopback by this process) measures the run's duration; then the same campaign, in a fresh directory, is
killed at N seeded-random moments spread over that duration and restarted on its directory after each
kill, until a last run finishes. The checks (tests/support/crash_harness.py, shared with the test) compare
it with the reference: same nodes (ids, kinds, parents, statuses, code hashes) and scores, no duplicate
per-task result, every ledger row seen at any kill still there, every call the scripted server answered
described by a ledger row (calls are recorded `pending` before they are sent; one in flight at a kill is
settled `interrupted` on resume), `PRAGMA integrity_check` ok, and none of the campaign's containers left.

    python benchmarks/crash_resume.py [--kills 20] [--generations 2] [--seed 0]

Exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # the scripted model and the shared checks live in tests.support

from opendgm.sandbox.factory import choose_backend  # noqa: E402
from tests.support.crash_harness import (  # noqa: E402
    CampaignProcess,
    counts,
    crash_and_resume,
    crash_config,
    snapshot,
    violations,
)
from tests.support.scripted_models import CapabilityScript  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    args = parser.parse_args()
    console = Console()
    backend = choose_backend("auto")
    script = CapabilityScript()
    try:
        with tempfile.TemporaryDirectory(prefix="opendgm-crash-") as scratch:
            reference = CampaignProcess(crash_config(script, backend, args.generations), Path(scratch) / "reference")
            finished = reference.run(timeout_s=600)
            if finished.code != 0:
                console.print(f"[red]the reference run failed ({finished.code}):[/]\n{reference.log_path.read_text()}")
                return 1
            expected = snapshot(reference.root)
            console.print(
                f"reference ({backend}): {finished.duration_s:.1f} s, start-up {finished.startup_s:.1f} s,"
                f" {len(expected.nodes)} nodes, {finished.reason}"
            )
            crashed = CampaignProcess(crash_config(script, backend, args.generations), Path(scratch) / "crashed")
            run = crash_and_resume(crashed, script, finished, args.kills, args.seed, timeout_s=600)
            problems = violations(expected, run, args.generations)
    finally:
        script.stop()
    table = Table(title=f"crash and resume: {args.kills} kills requested, {args.generations} generations, {backend}")
    table.add_column("figure")
    table.add_column("value (resumed / reference)", justify="right")
    for name, value in counts(expected, run).items():
        table.add_row(name, value)
    console.print(table)
    for problem in problems:
        console.print(f"[red]violation:[/] {problem}")
    held = "[green]invariant 3 (state durable before it is acted on) holds[/]"
    console.print(held if not problems else f"[red]{len(problems)} violation(s)[/]")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
