"""The seed agent's own tests (stdlib unittest), run in a sandbox to check a self-modified child.

python3 -m unittest discover -s tests
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import agent
import edit


def scripted(*replies: str) -> agent.Chat:
    """A chat function that answers with the given replies in order."""
    queue = list(replies)

    def chat(messages: list[dict], **_params: object) -> dict:
        return {"choices": [{"message": {"content": queue.pop(0)}}], "usage": {"total_tokens": 10}}

    return chat


class AgentLoopTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.repo = self.tmp / "repo"
        self.repo.mkdir()
        self.trajectory_path = self.tmp / "trajectory.jsonl"

    def run_agent(self, chat: agent.Chat, **limits: int) -> str:
        trajectory = agent.Trajectory(self.trajectory_path)
        try:
            return agent.Agent(chat, self.repo, agent.Limits(**limits), trajectory).run("make hello.txt")
        finally:
            trajectory.close()

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.trajectory_path.read_text().splitlines()]

    def test_acts_then_submits(self) -> None:
        status = self.run_agent(scripted("```bash\necho hi > hello.txt\n```", "done\n```bash\nsubmit\n```"))
        self.assertEqual(status, "submitted")
        self.assertEqual((self.repo / "hello.txt").read_text(), "hi\n")
        kinds = [r["type"] for r in self.records()]
        self.assertEqual(kinds, ["model", "action", "model", "submit"])

    def test_repeated_format_errors_end_the_run(self) -> None:
        self.assertEqual(self.run_agent(scripted("no block", "still none", "nope")), "format_errors")

    def test_step_and_token_limits(self) -> None:
        loop = "```bash\ntrue\n```"
        self.assertEqual(self.run_agent(scripted(loop, loop, loop), max_steps=2), "step_limit")
        self.assertEqual(self.run_agent(scripted(loop, loop, loop), token_limit=15), "token_limit")

    def test_model_errors_propagate(self) -> None:
        def broken(messages: list[dict], **_params: object) -> dict:
            raise RuntimeError("gateway HTTP 402: budget exceeded")

        with self.assertRaises(RuntimeError):
            self.run_agent(broken)


class ActionTest(unittest.TestCase):
    def test_parse_action(self) -> None:
        self.assertEqual(agent.parse_action("x\n```bash\nls -la\n```\n```bash\nrm\n```"), "ls -la")
        self.assertEqual(agent.parse_action("```\npwd\n```"), "pwd")
        self.assertIsNone(agent.parse_action("just talk"))

    def test_run_command_clips_and_times_out(self) -> None:
        code, output = agent.run_command("python3 -c 'print(\"x\" * 5000)'", Path.cwd(), 10, 100)
        self.assertEqual(code, 0)
        self.assertIn("characters clipped", output)
        self.assertLess(len(output), 200)
        code, output = agent.run_command("sleep 5", Path.cwd(), 0.5, 100)
        self.assertEqual(code, 124)
        self.assertIn("timed out", output)


class EditToolTest(unittest.TestCase):
    def setUp(self) -> None:
        self.file = Path(tempfile.mkdtemp()) / "pkg" / "mod.py"

    def test_create_view_replace_insert(self) -> None:
        edit.create(self.file, "a = 1\nb = 2\n")
        self.assertIn("     2\tb = 2", edit.view(self.file))
        edit.str_replace(self.file, "b = 2", "b = 3")
        edit.insert(self.file, 0, "# header")
        self.assertEqual(self.file.read_text(), "# header\na = 1\nb = 3\n")

    def test_ambiguous_or_missing_text_is_refused(self) -> None:
        edit.create(self.file, "x\nx\n")
        with self.assertRaisesRegex(edit.EditError, "2 times"):
            edit.str_replace(self.file, "x", "y")
        with self.assertRaisesRegex(edit.EditError, "not found"):
            edit.str_replace(self.file, "z", "y")

    def test_command_line_reports_errors(self) -> None:
        edit.create(self.file, "x\n")
        err = io.StringIO()
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            code = edit.main(["str_replace", str(self.file), "--old", "nope", "--new", "y"])
        self.assertEqual(code, 1)
        self.assertIn("not found", err.getvalue())


if __name__ == "__main__":
    unittest.main()
