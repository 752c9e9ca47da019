"""Search policies compared at zero model cost: `opendgm simulate`'s scheduler over many seeds, side by side.

Every policy runs the real campaign scheduler (DGM's generations with `score_child_prop`, `best` or `random`
parent selection and its 10-task stage gating the next 50 at 40%; HGM's asynchronous expand/evaluate loop with its
own rules) on the same simulated landscape (a seed at 20%, small noisy steps, a share of broken children) and the
same task-evaluation budget. It prints, per policy, how many seeds reached the target ability, the median and
quartiles of the task evaluations and simulated hours that took, the best agent's latent ability at the end, and
each median as a ratio to DGM's `score_child_prop` measured in the same run.

    python benchmarks/simulate_policies.py [--seeds 50] [--budget 300] [--target 0.35] [--workers 4] [--dir D]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from opendgm.evolve.config import CampaignConfig
from opendgm.evolve.simulate import POLICIES, Progress, compare
from opendgm.evolve.simulate_cli import summary_table

BASELINE = "score_child_prop"
console = Console(width=120)


def config(budget: int, target: float, workers: int) -> CampaignConfig:
    role = {"model": "openai/simulated", "api_base": "http://127.0.0.1:9"}
    return CampaignConfig.model_validate({
        "name": "policies",
        "llm": {"roles": {"agent": role, "meta": role}},
        "stages": [{"subset": "small", "threshold": 0.4}, {"subset": "medium"}],  # DGM's 10, then 50 at >= 40%
        "children_per_generation": 2,
        "workers": workers,
        "budget": {"task_evaluations": budget},
        "simulation": {"target": target},
    })  # fmt: skip


def ratios(summary: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Each policy over the baseline: seeds that reached the target (higher is better), and the median evaluations
    and hours to get there (lower is better; none while either median is past the budget)."""
    base = summary["policies"][BASELINE]
    out = {}
    for name, row in summary["policies"].items():
        out[name] = {"reached": _ratio(row["reached"], base["reached"])}
        out[name] |= {key: _ratio(row[key]["median"], base[key]["median"]) for key in ("evaluations", "hours")}
    return out


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or math.isinf(base) or math.isinf(value) or base == 0:
        return None
    return value / base


def progress(policy: str, seed: int, found: Progress) -> None:
    reached = "-" if found.reached_evaluations is None else found.reached_evaluations
    print(f"{policy} seed {seed}: reached after {reached} evaluations, best ability {found.best_ability}", flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--budget", type=int, default=300, help="Task evaluations per campaign (the seed's too).")
    parser.add_argument("--target", type=float, default=0.35)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--dir", type=Path, default=None, help="Keep the archives here (default: a temp dir).")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(
        prefix="opendgm-policies-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None
    ) as scratch:
        out = args.dir or Path(scratch)
        summary = compare(config(args.budget, args.target, args.workers), out, args.seeds, POLICIES, on_run=progress)
    console.print(summary_table(summary))
    summary["ratios_to_" + BASELINE] = ratios(summary)
    for name, ratio in summary["ratios_to_" + BASELINE].items():
        shown = ", ".join(f"{key} {'-' if v is None else f'{v:.2f}x'}" for key, v in ratio.items())
        console.print(f"{name}: median {shown} of {BASELINE}'s")
    console.print(f"{args.seeds} seeds x {len(POLICIES)} policies in {time.monotonic() - started:.0f} s")
    return summary


if __name__ == "__main__":
    main()
