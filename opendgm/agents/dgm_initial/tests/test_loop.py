"""The loop with a scripted model: native tool calls, the text protocol, the switch between them, limits,
and how model errors end a run (through `main`, as the evaluator runs the agent)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import types
import unittest
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the agent's folder: `agent`, `tools`

import agent
from helpers import ModelError, ScriptedModel, answer, scratch
from tools import ToolContext, load_tools


def block(name: str, **arguments: Any) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


class LoopTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = scratch(self)
        self.repo = self.tmp / "repo"
        self.repo.mkdir()
        self.trajectory_path = self.tmp / "trajectory.jsonl"

    def run_agent(self, model: ScriptedModel, **settings: Any) -> str:
        tools = load_tools()
        trajectory = agent.Trajectory(self.trajectory_path)
        try:
            for tool in tools:
                tool.setup(ToolContext(self.repo))
            runner = agent.Agent(model, tools, agent.Settings(**settings), trajectory, ModelError)
            return runner.run("Write hello.txt.", self.repo)
        finally:
            for tool in tools:
                tool.close()
            trajectory.close()

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self.trajectory_path.read_text().splitlines()]
        return [r for r in records if kind is None or r["type"] == kind]

    def test_native_tool_calls_until_a_reply_without_one(self) -> None:
        target = str(self.repo / "hello.txt")
        model = ScriptedModel(
            answer("Let me look.", ("bash", {"command": "cd /tmp && export WHERE=here"})),
            answer(None, ("bash", {"command": "echo $WHERE; pwd"}), ("editor", {"command": "create", "path": target,
                                                                                 "file_text": "hi\n"})),
            answer("Done."),
        )  # fmt: skip
        self.assertEqual(self.run_agent(model), "finished")
        self.assertEqual((self.repo / "hello.txt").read_text(), "hi\n")
        first, _, third = model.requests
        self.assertEqual([m["role"] for m in first["messages"]], ["user"])  # no system message in native mode
        self.assertIn(str(self.repo), first["messages"][0]["content"])
        self.assertEqual(first["tool_choice"], "auto")
        self.assertEqual([t["function"]["name"] for t in first["tools"]], ["bash", "editor"])
        self.assertEqual(first["max_tokens"], 4096)
        self.assertNotIn("temperature", first)
        assistant, *results = third["messages"][3:]
        self.assertEqual([c["id"] for c in assistant["tool_calls"]], ["call_0", "call_1"])
        self.assertEqual([(m["role"], m["tool_call_id"]) for m in results], [("tool", "call_0"), ("tool", "call_1")])
        self.assertEqual(results[0]["content"], "here\n/tmp\n")  # the shell kept its directory and variable
        tools = self.records("tool")
        self.assertEqual([r["name"] for r in tools], ["bash", "bash", "editor"])
        self.assertEqual(tools[0]["exit_code"], 0)
        self.assertEqual([r["mode"] for r in self.records("model")], ["native"] * 3)

    def test_text_protocol(self) -> None:
        target = str(self.repo / "hello.txt")
        model = ScriptedModel(
            answer("I will write it.\n" + block("editor", command="create", path=target, file_text="hi\n")),
            answer(block("bash", command="cat hello.txt") + block("bash", command="rm hello.txt")),
            answer("All done."),
        )
        self.assertEqual(self.run_agent(model, tool_mode="text"), "finished")
        self.assertEqual((self.repo / "hello.txt").read_text(), "hi\n")
        system = model.requests[0]["messages"][0]
        self.assertEqual(system["role"], "system")
        self.assertIn("### editor", system["content"])
        self.assertNotIn("tools", model.requests[0])
        last = model.requests[2]["messages"][-1]
        self.assertEqual(last["role"], "user")
        self.assertTrue(last["content"].startswith("Result of the bash tool:\nhi\n"))
        self.assertIn("Only the first", last["content"])

    def test_unreadable_blocks_and_bad_calls_are_reported_to_the_model(self) -> None:
        model = ScriptedModel(
            answer("<tool_call>{not json}</tool_call>"),
            answer(block("hammer", nail=1)),
            answer(block("bash", cmd="ls")),
            answer("<tool_call>[1]</tool_call>"),
            answer("<tool_call>"),  # no closing tag: not a block, so the run ends
        )
        self.assertEqual(self.run_agent(model, tool_mode="text"), "finished")
        replies = [request["messages"][-1]["content"] for request in model.requests[1:]]
        self.assertIn("could not be read: the block is not valid JSON", replies[0])
        self.assertIn("no tool named 'hammer'", replies[1])
        self.assertIn("Error: the bash tool failed: TypeError", replies[2])
        self.assertIn('"name" string', replies[3])
        self.assertEqual(len(self.records("format_error")), 2)

    def test_three_unreadable_blocks_in_a_row_end_the_run(self) -> None:
        bad = answer("<tool_call>nope</tool_call>")
        self.assertEqual(self.run_agent(ScriptedModel(bad, bad, bad), tool_mode="text"), "format_errors")

    def test_native_arguments_that_are_not_json(self) -> None:
        broken = answer(None, ("bash", {}))
        broken["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = "{oops"
        model = ScriptedModel(broken, answer("ok"))
        self.assertEqual(self.run_agent(model), "finished")
        call, result = model.requests[1]["messages"][-2:]
        self.assertEqual(call["tool_calls"][0]["function"]["arguments"], "{}")  # only JSON goes back to a provider
        self.assertIn("not valid JSON", result["content"])

    def test_auto_switches_to_text_when_tools_are_refused(self) -> None:
        refusal = ModelError(400, "BadRequest: this model does not support tools", "bad_request")
        model = ScriptedModel(refusal, answer(block("bash", command="echo hi > hello.txt")), answer("done"))
        self.assertEqual(self.run_agent(model), "finished")
        self.assertEqual((self.repo / "hello.txt").read_text(), "hi\n")
        self.assertIn("tools", model.requests[0])
        self.assertNotIn("tools", model.requests[1])
        self.assertEqual(model.requests[1]["messages"][0]["role"], "system")
        (switch,) = self.records("mode_switch")
        self.assertEqual((switch["mode_from"], switch["mode_to"]), ("native", "text"))
        self.assertIn("does not support tools", switch["reason"])

    def test_auto_switches_when_a_reply_writes_a_block_instead_of_calling(self) -> None:
        # A server that ignores `tools` lets the model write its call as text.
        model = ScriptedModel(answer(block("bash", command="echo hi > hello.txt")), answer("done"))
        self.assertEqual(self.run_agent(model), "finished")
        self.assertEqual((self.repo / "hello.txt").read_text(), "hi\n")
        self.assertEqual([r["mode_to"] for r in self.records("mode_switch")], ["text"])
        self.assertNotIn("tools", model.requests[1])

    def test_a_block_quoted_after_native_calls_is_not_run(self) -> None:
        # Once the model has called tools natively, a <tool_call> in its text is content (say, a summary of a
        # change to this agent's own text protocol), not a call.
        model = ScriptedModel(
            answer(None, ("bash", {"command": "echo one > hello.txt"})),
            answer("I changed the protocol to " + block("bash", command="echo two >> hello.txt")),
        )
        self.assertEqual(self.run_agent(model), "finished")
        self.assertEqual((self.repo / "hello.txt").read_text(), "one\n")
        self.assertEqual(self.records("mode_switch"), [])

    def test_a_switch_after_native_calls_rewrites_them_as_text(self) -> None:
        model = ScriptedModel(
            answer(None, ("bash", {"command": "echo one > hello.txt"})),
            ModelError(400, "function calling is not available for this deployment", "bad_request"),
            answer(block("bash", command="echo two >> hello.txt")),
            answer("done"),
        )
        self.assertEqual(self.run_agent(model), "finished")
        self.assertEqual((self.repo / "hello.txt").read_text(), "one\ntwo\n")
        history = model.requests[2]["messages"]
        self.assertEqual([m["role"] for m in history], ["system", "user", "assistant", "user"])
        self.assertIn('<tool_call>{"name": "bash"', history[2]["content"])  # the native call, rewritten as text
        self.assertTrue(history[3]["content"].startswith("Result of the bash tool:"))
        self.assertTrue(all("tool_calls" not in m and m["role"] != "tool" for m in history))

    def test_native_mode_never_switches(self) -> None:
        refusal = ModelError(400, "tools are not supported", "bad_request")
        with self.assertRaises(ModelError):
            self.run_agent(ScriptedModel(refusal), tool_mode="native")
        self.assertEqual(self.run_agent(ScriptedModel(answer(block("bash", command="ls"))), tool_mode="native"),
                         "finished")  # fmt: skip

    def test_limits(self) -> None:
        call = answer(None, ("bash", {"command": "true"}), tokens=10)
        self.assertEqual(self.run_agent(ScriptedModel(call, call, call), max_steps=2), "step_limit")
        self.assertEqual(self.run_agent(ScriptedModel(call, call, call), token_limit=15), "token_limit")
        tools = load_tools()
        trajectory = agent.Trajectory(self.trajectory_path)
        past = agent.Agent(ScriptedModel(), tools, agent.Settings(), trajectory, ModelError, deadline=0.0)
        self.assertEqual(past.run("x", self.repo), "time_limit")
        trajectory.close()

    def test_context_overflow_ends_the_run_with_its_change(self) -> None:
        overflow = ModelError(400, "prompt is too long", "context_length_exceeded")
        model = ScriptedModel(answer(None, ("bash", {"command": "echo x > hello.txt"})), overflow)
        self.assertEqual(self.run_agent(model), "context_limit")
        self.assertTrue((self.repo / "hello.txt").exists())


class MainTest(unittest.TestCase):
    """`main` as the evaluator runs it, with a stand-in gateway_client module."""

    def setUp(self) -> None:
        self.tmp = scratch(self)
        (self.tmp / "repo").mkdir()
        (self.tmp / "task.md").write_text("Write hello.txt.")
        self.saved = sys.modules.get("gateway_client")
        self.addCleanup(self.restore)

    def restore(self) -> None:
        if self.saved is None:
            sys.modules.pop("gateway_client", None)
        else:
            sys.modules["gateway_client"] = self.saved

    def main(self, model: ScriptedModel, *extra: str) -> tuple[int, list[dict[str, Any]]]:
        sys.modules["gateway_client"] = types.SimpleNamespace(GatewayError=ModelError, chat=model)
        path = self.tmp / "trajectory.jsonl"
        path.unlink(missing_ok=True)
        argv = ["--task", str(self.tmp / "task.md"), "--repo", str(self.tmp / "repo"), "--trajectory", str(path)]
        code = agent.main([*argv, *extra])
        return code, [json.loads(line) for line in path.read_text().splitlines()]

    def test_finished_run(self) -> None:
        model = ScriptedModel(answer(None, ("bash", {"command": "echo hi > hello.txt"})), answer("done"))
        code, records = self.main(model, "--some-future-limit", "7", "--max-reply-tokens", "512")
        self.assertEqual(code, agent.EXIT_DONE)
        self.assertEqual((self.tmp / "repo" / "hello.txt").read_text(), "hi\n")
        start, exit_record = records[0], records[-1]
        self.assertEqual(start["tools"], ["bash", "editor"])
        self.assertIsNone(start["settings"]["max_steps"])  # no step cap unless asked
        self.assertEqual(model.requests[0]["max_tokens"], 512)
        self.assertEqual({k: exit_record[k] for k in ("type", "status", "steps", "mode")},
                         {"type": "exit", "status": "finished", "steps": 2, "mode": "native"})  # fmt: skip

    def test_reply_size_from_the_environment(self) -> None:
        os.environ[agent.REPLY_TOKENS_ENV] = "1234"
        self.addCleanup(os.environ.pop, agent.REPLY_TOKENS_ENV)
        model = ScriptedModel(answer("nothing to do"))
        self.assertEqual(self.main(model)[0], agent.EXIT_DONE)
        self.assertEqual(model.requests[0]["max_tokens"], 1234)

    def test_context_overflow_exits_normally(self) -> None:
        code, records = self.main(ScriptedModel(ModelError(400, "too long", "context_length_exceeded")))
        self.assertEqual(code, agent.EXIT_DONE)
        self.assertEqual((records[-1]["status"], records[-1]["error"]), ("context_limit", "gateway HTTP 400: too long"))

    def test_other_model_errors_exit_3(self) -> None:
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            code, records = self.main(ScriptedModel(ModelError(402, "budget exceeded", "budget_exceeded")))
        self.assertIn("model error: gateway HTTP 402", stderr.getvalue())
        self.assertEqual(code, agent.EXIT_MODEL_ERROR)
        self.assertEqual(records[-1]["status"], "model_error")
        self.assertIn("budget exceeded", records[-1]["error"])


if __name__ == "__main__":
    unittest.main()
