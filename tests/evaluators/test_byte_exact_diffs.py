"""An agent's diff is its exact bytes: a latin-1 file is stored and graded as written, not as U+FFFD."""

from __future__ import annotations

from pathlib import Path

from opendgm.archive import Archive
from opendgm.evaluators.evaluation import EvaluationContext, evaluate_stage
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.sandbox import reachable_scratch

LATIN_1 = "café, naïve, 10 €uro? no: ¤\n".encode("latin-1", errors="replace")
AGENT = f"""import argparse, pathlib
parser = argparse.ArgumentParser()
for flag in ("--task", "--repo", "--trajectory", "--max-steps", "--time-limit-s"):
    parser.add_argument(flag)
args = parser.parse_args()
(pathlib.Path(args.repo) / "greeting.txt").write_bytes({LATIN_1!r})
"""
HIDDEN_TEST = f"""import pathlib, unittest
class Bytes(unittest.TestCase):
    def test_exact(self):
        self.assertEqual(pathlib.Path("greeting.txt").read_bytes(), {LATIN_1!r})
"""


def test_a_latin_1_file_is_stored_and_graded_byte_exact(backend: str, tmp_path: Path) -> None:
    task = tmp_path / "tasks" / "latin-1"
    (task / "repo").mkdir(parents=True)
    (task / "tests").mkdir()
    (task / "repo" / "greeting.txt").write_text("hello\n")
    (task / "tests" / "test_bytes.py").write_text(HIDDEN_TEST)
    (task / "task.toml").write_text('statement = "write it"\ntest_command = "python3 -m unittest discover -s tests"\n')
    evaluator = RepoTasks(tmp_path / "tasks")
    with reachable_scratch() as scratch, Archive.create(tmp_path / "c", "bytes") as archive:
        agent = scratch / "agent"
        agent.mkdir()
        (agent / "agent.py").write_text(AGENT)
        node = archive.add_agent(agent, operator="import").id
        context = EvaluationContext(gateway=None, executor=LocalExecutor(1), backend=backend)
        score = evaluate_stage(archive, node, evaluator, evaluator.select("all"), "s", context)
        (result,) = archive.results(node)
        assert result.status == "resolved" and score.n_resolved == 1, (result.status, result.detail)
        stored = archive.artifacts.read_bytes(str(result.patch_path))
    assert b"+" + LATIN_1 in stored and b"\xef\xbf\xbd" not in stored
