"""Hole 8: host memory stays flat whatever the agent writes; an oversized change is `patch_too_large`.

The run happens in a child process so that its peak RSS (VmHWM) is its own: the 500 MB file is written
inside the sandbox, and the host must never hold it (or a diff of it) in memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.hostile import hostile_agent

EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"
SIZE = 500 * 1024 * 1024
WRITER = f"""
with open(repo / "big.bin", "wb") as sink:
    block = os.urandom(1 << 20)
    for _ in range({SIZE} >> 20):
        sink.write(block)
print("wrote", os.path.getsize(repo / "big.bin"))
"""
MEASURE = """
import json, sys
from pathlib import Path
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import TaskRunner

def rss(field):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field))
    return int(line.split()[1]) * 1024

agent, backend, examples = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
evaluator = RepoTasks(examples)
(task,) = evaluator.select("fix-median")
runner = TaskRunner(evaluator, agent, None, node="big", backend=backend)
runner.run(evaluator.select("add-slugify")[0])  # warm up: imports, first sandbox, first capture
baseline = rss("VmRSS")
outcome = runner.run(task)
print(json.dumps({"baseline": baseline, "peak": rss("VmHWM"), "status": outcome.status,
                  "detail": outcome.detail, "log": outcome.agent_log[-300:], "patch": len(outcome.patch)}))
"""


def test_a_500_mb_file_leaves_host_memory_flat_and_is_patch_too_large(backend: str, scratch: Path) -> None:
    agent = hostile_agent(scratch / "agent", WRITER)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(agent), backend, str(EXAMPLES)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert f"wrote {SIZE}" in report["log"], report  # the file really was written, in the sandbox
    assert report["status"] == "patch_too_large", report
    grown_mb = (report["peak"] - report["baseline"]) / 2**20
    assert grown_mb < 100, f"host peak RSS grew {grown_mb:.0f} MB over its baseline: {report}"
