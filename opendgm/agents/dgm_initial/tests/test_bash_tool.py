"""The bash tool keeps one shell for the whole run, and survives commands that hang, flood or end it."""

from __future__ import annotations

import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the agent's folder: `agent`, `tools`

from helpers import scratch
from tools import ToolContext, load_tools
from tools.bash import ShellSession


class ShellSessionTest(unittest.TestCase):
    def setUp(self) -> None:
        self.repo = scratch(self)
        self.shell = ShellSession(self.repo, keep_bytes=4000)

    def tearDown(self) -> None:
        self.shell.close()

    def run_command(self, command: str, timeout: float = 30) -> tuple[str, int | None, str]:
        return self.shell.run(command, timeout)

    def test_state_survives_between_commands(self) -> None:
        self.assertEqual(self.run_command("pwd")[0].strip(), str(self.repo))
        self.run_command("cd /tmp")
        self.assertEqual(self.run_command("pwd")[0].strip(), "/tmp")
        self.run_command('export GREETING=hello; shout() { echo "$1!"; }')
        self.assertEqual(self.run_command("echo $GREETING")[0].strip(), "hello")
        self.assertEqual(self.run_command("shout hi")[0].strip(), "hi!")

    def test_exit_status_and_exact_output(self) -> None:
        self.assertEqual(self.run_command("printf 'a\\nb'"), ("a\nb", 0, ""))
        self.assertEqual(self.run_command("echo oops >&2; false"), ("oops\n", 1, ""))

    def test_timeout_restarts_the_shell(self) -> None:
        self.run_command("export KEPT=yes; cd /tmp")
        started = time.monotonic()
        output, status, note = self.run_command("echo before; sleep 30", timeout=3)
        self.assertLess(time.monotonic() - started, 20)
        self.assertIsNone(status)
        self.assertIn("before", output)
        self.assertIn("restarted", note)
        output, status, note = self.run_command("echo after ${KEPT:-gone}; pwd")
        self.assertEqual((output, status, note), (f"after gone\n{self.repo}\n", 0, ""))

    def test_commands_reading_stdin_do_not_hang(self) -> None:
        self.assertEqual(self.run_command("cat; read line; echo done", timeout=10), ("done\n", 0, ""))

    def test_large_output_is_clipped_in_the_middle(self) -> None:
        output, status, _ = self.run_command('python3 -c \'print("a" * 100 + "x" * 500000 + "z" * 100)\'')
        self.assertEqual(status, 0)
        self.assertTrue(output.startswith("a" * 100) and output.endswith("z" * 100 + "\n"))
        self.assertIn("bytes of output omitted", output)
        self.assertLess(len(output), 4200)

    def test_a_shell_killed_between_commands_is_replaced(self) -> None:
        self.shell.process.kill()
        self.shell.process.wait()
        output, status, note = self.run_command("echo back")
        self.assertEqual((output, status), ("back\n", 0))
        self.assertIn("ran in a new shell", note)

    def test_end_marker_in_the_middle_of_a_read(self) -> None:
        # A background writer may flood the pipe while the shell prints its end marker: the marker then
        # arrives in the middle of one read, with much output after it, or split across two reads.
        marker = b"__agent_done_0123456789abcdef__"
        self.shell._chunks.put(b"result\n\n" + marker + b" 3\n" + b"y\n" * 20000)
        self.assertEqual(self.shell._read(marker, 5), ("result\n", 3, ""))
        self.shell._chunks.put(b"x" * 70000 + b"\n__agent_done_0123")
        self.shell._chunks.put(b"456789abcdef__ 0\n")
        output, status, _ = self.shell._read(marker, 5)
        self.assertEqual(status, 0)
        self.assertTrue(output.endswith("x" * 100) and "bytes of output omitted" in output)

    def test_exit_and_broken_syntax_do_not_break_the_session(self) -> None:
        output, status, _ = self.run_command("echo 'unterminated")
        self.assertNotEqual(status, 0)
        self.assertIn("unexpected EOF", output)
        self.assertEqual(self.run_command("cat <<'EOF'\nhere doc\nEOF")[0], "here doc\n")
        _, status, note = self.run_command("exit 7")
        self.assertEqual(status, 7)
        self.assertIn("shell exited", note)
        self.assertEqual(self.run_command("echo alive"), ("alive\n", 0, ""))


class BashToolTest(unittest.TestCase):
    def setUp(self) -> None:
        self.repo = scratch(self)
        (self.tool,) = [tool for tool in load_tools() if tool.name == "bash"]
        self.tool.setup(ToolContext(self.repo, command_timeout_s=1, observation_chars=1000))

    def tearDown(self) -> None:
        self.tool.close()

    def test_reports_status_and_restart_to_the_model(self) -> None:
        self.assertEqual(self.tool.run(command="echo hi"), "hi\n")
        failed = self.tool.run(command="exit 4")
        self.assertIn("[exit status 4]", failed)
        self.assertEqual(failed.record, {"exit_code": 4, "timed_out": False})
        slow = self.tool.run(command="sleep 20")
        self.assertIn("was stopped", slow)
        self.assertEqual(slow.record, {"exit_code": None, "timed_out": True})
        self.assertEqual(self.tool.run(command="true"), "(no output)")
        self.assertTrue(self.tool.run(command=" ").startswith("Error:"))

    def test_a_command_never_outlives_the_run(self) -> None:
        self.tool.setup(ToolContext(self.repo, command_timeout_s=60, deadline=time.monotonic() + 1))
        started = time.monotonic()
        self.assertIn("was stopped", self.tool.run(command="sleep 30"))
        self.assertLess(time.monotonic() - started, 20)


if __name__ == "__main__":
    unittest.main()
