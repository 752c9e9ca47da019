"""Sandbox lifecycle cost, side by side in one run.

Rows: a raw `docker run --rm IMAGE true` (the baseline); opendgm's Docker sandbox lifecycle (start, one
trivial exec, put a 1 MB tree, get it back, close); the same lifecycle on the local backend.
Goals: Docker lifecycle within 1.5x of the raw `docker run`; local lifecycle under 50 ms.

    python benchmarks/sandbox_overhead.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from opendgm.sandbox import DEFAULT_IMAGE, SandboxSpec, open_sandbox
from opendgm.sandbox.images import build_runtime_image

TREE_FILES, TREE_FILE_BYTES = 64, 16 * 1024  # 1 MiB in all


def make_tree(root: Path) -> Path:
    for index in range(TREE_FILES):
        folder = root / f"pkg{index % 8}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{index}.bin").write_bytes(bytes([index % 256]) * TREE_FILE_BYTES)
    return root


def raw_docker_run() -> None:
    subprocess.run(["docker", "run", "--rm", DEFAULT_IMAGE, "true"], check=True, capture_output=True)


def lifecycle(backend: str, tree: Path, scratch: Path) -> Callable[[], None]:
    def run() -> None:
        with open_sandbox(SandboxSpec(campaign="bench"), backend) as sandbox:  # type: ignore[arg-type]
            assert sandbox.exec("true").ok
            sandbox.put_dir(tree, "/workspace/tree")
            back = sandbox.get_dir("/workspace/tree", scratch / f"{backend}-{time.monotonic_ns()}")
        assert sum(1 for p in back.rglob("*") if p.is_file()) == TREE_FILES

    return run


def median_ms(action: Callable[[], None], runs: int, label: str) -> float:
    action()  # warm-up: caches, connection pool, page cache
    samples = []
    for _ in track(range(runs), description=label):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    build_runtime_image(say=lambda _msg: None)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        tree = make_tree(scratch / "tree")
        raw = median_ms(raw_docker_run, runs, "docker run --rm")
        docker = median_ms(lifecycle("docker", tree, scratch), runs, "opendgm docker lifecycle")
        local = median_ms(lifecycle("local", tree, scratch), runs, "opendgm local lifecycle")
    table = Table(title=f"sandbox lifecycle, median of {runs} runs")
    for column in ("what", "median ms", "vs raw docker run", "goal", "met"):
        table.add_column(column)
    table.add_row("docker run --rm IMAGE true", f"{raw:.0f}", "1.00x", "baseline", "")
    table.add_row(
        "opendgm docker: start, exec, put 1 MB, get 1 MB, close",
        f"{docker:.0f}",
        f"{docker / raw:.2f}x",
        "<= 1.5x",
        "yes" if docker <= 1.5 * raw else "NO",
    )
    table.add_row(
        "opendgm local: same lifecycle",
        f"{local:.1f}",
        f"{local / raw:.2f}x",
        "< 50 ms",
        "yes" if local < 50 else "NO",
    )
    Console().print(table)


if __name__ == "__main__":
    main()
