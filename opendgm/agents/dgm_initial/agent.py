"""The `dgm-initial` seed agent: a tool-calling coding agent with the capabilities of DGM's initial agent.

One user message states the task; the model calls tools (a persistent bash shell and a whole-file editor,
discovered from tools/*.py) until it answers without a tool call. Tool calls are native (OpenAI's `tools` /
`tool_calls`) when the model service supports them, otherwise written as a <tool_call> block that the agent
parses. There is no step cap unless one is given. The answer is the change left in the repository; the run
is written to a JSONL trajectory. The model is reached only through the opendgm gateway (`gateway_client`).

The invocation contract is in opendgm/agents/CONTRACT.md; AGENT.md describes this agent's layout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from tools import Tool, ToolContext, ToolLoadError, load_tools

HERE = Path(__file__).resolve().parent
AGENT_NAME = "opendgm-dgm-initial"
TOOL_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
CODE_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.DOTALL)
# A 400 answer that names tools or functions: the model service cannot take native tool calls.
TOOLS_REFUSED = re.compile(r"tool|function", re.IGNORECASE)
CONTEXT_EXCEEDED = "context_length_exceeded"
REPLY_TOKENS_ENV = "OPENDGM_REPLY_TOKENS"
TOOL_MODES = ("auto", "native", "text")

# Exit codes of the agent process (the evaluator reads them).
EXIT_DONE = 0
EXIT_BROKEN = 1  # argparse exits 2 on a usage error
EXIT_MODEL_ERROR = 3

Chat = Callable[..., dict]


@dataclass
class Settings:
    """Everything that bounds or shapes one run; None means no limit."""

    max_steps: int | None = None
    time_limit_s: float | None = None
    token_limit: int | None = None
    max_reply_tokens: int = 4096
    command_timeout_s: float = 120.0
    observation_chars: int = 100_000
    tool_mode: str = "auto"
    max_format_errors: int = 3


class Trajectory:
    """Append-only JSONL record of the run, flushed line by line so a killed run keeps its history."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("a", encoding="utf-8")

    def write(self, kind: str, **data: Any) -> None:
        self._handle.write(json.dumps({"type": kind, "ts": round(time.time(), 3), **data}) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def load_prompt(name: str, **values: str) -> str:
    """A prompt slot from prompts/, with $placeholders filled (prompt evolution rewrites these files)."""
    return Template((HERE / "prompts" / name).read_text(encoding="utf-8")).safe_substitute(values)


@dataclass
class ToolCall:
    """One request to run a tool; `error` says why it cannot run as written (bad JSON, not an object)."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def wire(self) -> dict[str, Any]:
        """The call as an assistant message carries it in OpenAI's shape; the arguments always as JSON (a
        provider that parses them refuses anything else, even when the model wrote it)."""
        arguments = json.dumps(self.arguments)
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": arguments}}

    def as_text(self) -> str:
        """The call written as a text-protocol block."""
        return f"<tool_call>{json.dumps({'name': self.name, 'arguments': self.arguments})}</tool_call>"


def decode_arguments(raw: object) -> tuple[dict[str, Any], str | None]:
    """A tool call's arguments as a dict, or an error message."""
    if isinstance(raw, dict):
        return raw, None
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except ValueError as exc:
        return {}, f"the arguments are not valid JSON ({exc})"
    if not isinstance(value, dict):
        return {}, "the arguments must be a JSON object"
    return value, None


def native_calls(message: dict[str, Any]) -> list[ToolCall]:
    """The tool calls of an OpenAI-format assistant message, in order."""
    calls = []
    for index, raw in enumerate(message.get("tool_calls") or []):
        raw = raw if isinstance(raw, dict) else {}
        function = raw.get("function") if isinstance(raw.get("function"), dict) else {}
        arguments, error = decode_arguments(function.get("arguments"))
        calls.append(
            ToolCall(
                id=str(raw.get("id") or f"call_{index}"),
                name=str(function.get("name") or ""),
                arguments=arguments,
                error=error,
            )
        )
    return calls


def text_call(reply: str, index: int) -> ToolCall | None:
    """The first <tool_call> block of a reply (its content a JSON object with `name` and `arguments`), or None."""
    found = TOOL_BLOCK.search(reply)
    if found is None:
        return None
    body = found.group(1).strip()
    fenced = CODE_FENCE.match(body)
    body = fenced.group(1).strip() if fenced else body
    call = ToolCall(id=f"text_{index}", name="")
    try:
        value = json.loads(body)
    except ValueError as exc:
        call.error = f"the block is not valid JSON ({exc})"
        return call
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        call.error = 'the block must hold a JSON object with a "name" string and an "arguments" object'
        return call
    call.name = value["name"]
    call.arguments, call.error = decode_arguments(value.get("arguments", {}))
    return call


def tools_listing(tools: dict[str, Tool]) -> str:
    return "\n\n".join(
        f"### {tool.name}\n{tool.spec['description']}\nArguments (JSON schema): {json.dumps(tool.spec['parameters'])}"
        for tool in tools.values()
    )


def clip(text: str, limit: int) -> str:
    """Keep both ends of an overlong text and say how much of the middle was cut."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters clipped ...]\n{text[-half:]}"


class Agent:
    """The loop: ask the model, run the tools it calls, until it answers without a call or a limit is hit."""

    def __init__(
        self,
        chat: Chat,
        tools: list[Tool],
        settings: Settings,
        trajectory: Trajectory,
        model_error: type[Exception],
        deadline: float | None = None,
    ) -> None:
        self.chat, self.settings, self.trajectory, self.model_error = chat, settings, trajectory, model_error
        self.tools = {tool.name: tool for tool in tools}
        self.deadline = deadline
        self.mode = "text" if settings.tool_mode == "text" else "native"
        self.messages: list[dict[str, Any]] = []
        self.steps = self.tokens = self.format_errors = 0
        self.native_calls_made = 0  # after one, the service supports tools: a <tool_call> in text is only text
        self.error = ""

    def run(self, statement: str, repo: Path) -> str:
        """The run's exit status. A model error other than an overlong context propagates."""
        self.messages = [
            {"role": "user", "content": load_prompt("instance.md", repo=str(repo), statement=statement)},
        ]
        if self.mode == "text":
            self.messages.insert(0, self._text_system_message())
        try:
            return self._loop()
        except self.model_error as exc:
            if getattr(exc, "kind", None) != CONTEXT_EXCEEDED:
                raise
            self.error = str(exc)  # the change made so far is still the answer, as in DGM
            return "context_limit"

    def _loop(self) -> str:
        while True:
            stop = self._limit_reached()
            if stop:
                return stop
            self.steps += 1
            message = self._ask()
            text = message.get("content") or ""
            text = text if isinstance(text, str) else json.dumps(text)
            calls = native_calls(message) if self.mode == "native" else []
            if not calls and self._may_switch() and not self.native_calls_made and TOOL_BLOCK.search(text):
                self._switch_to_text("the model wrote a <tool_call> block instead of a native tool call")
            self.native_calls_made += len(calls)
            ended = self._native_turn(text, calls) if self.mode == "native" else self._text_turn(text)
            if ended:
                return ended

    def _native_turn(self, text: str, calls: list[ToolCall]) -> str | None:
        """Run every call of the reply, one `tool` message each (OpenAI requires an answer per call id)."""
        if not calls:
            return "finished"
        wire = [call.wire() for call in calls]
        self.messages.append({"role": "assistant", "content": text or None, "tool_calls": wire})
        for call in calls:
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": self._run_tool(call)})
        return None

    def _text_turn(self, text: str) -> str | None:
        """Run the reply's first <tool_call> block; an unreadable block is reported, a missing one ends the run."""
        self.messages.append({"role": "assistant", "content": text})
        call = text_call(text, self.steps)
        if call is None:
            return "finished"
        if call.error and not call.name:
            self.format_errors += 1
            self.trajectory.write("format_error", step=self.steps, error=call.error)
            if self.format_errors >= self.settings.max_format_errors:
                return "format_errors"
            self.messages.append({"role": "user", "content": self._format_error_message(call.error)})
            return None
        self.format_errors = 0
        result = self._run_tool(call)
        if len(TOOL_BLOCK.findall(text)) > 1:
            result += "\n[Only the first <tool_call> block of a reply is run; the others were ignored.]"
        self.messages.append({"role": "user", "content": f"Result of the {call.name} tool:\n{result}"})
        return None

    def _limit_reached(self) -> str | None:
        settings = self.settings
        if settings.max_steps is not None and self.steps >= settings.max_steps:
            return "step_limit"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "time_limit"
        if settings.token_limit is not None and self.tokens >= settings.token_limit:
            return "token_limit"
        return None

    def _ask(self) -> dict[str, Any]:
        """One model call; in auto mode a service that refuses tools switches the run to the text protocol."""
        while True:
            params: dict[str, Any] = {"max_tokens": self.settings.max_reply_tokens}
            if self.mode == "native":
                params["tools"] = [{"type": "function", "function": tool.spec} for tool in self.tools.values()]
                params["tool_choice"] = "auto"
            started = time.monotonic()
            try:
                response = self.chat(self.messages, **params)
            except self.model_error as exc:
                if self._may_switch() and tools_refused(exc):
                    self._switch_to_text(f"the model service refused native tools: {exc}")
                    continue
                raise
            usage = response.get("usage") or {}
            self.tokens += int(usage.get("total_tokens") or 0)
            choice = (response.get("choices") or [{}])[0]
            message = choice.get("message") or {}
            self.trajectory.write(
                "model",
                step=self.steps,
                mode=self.mode,
                reply=message.get("content"),
                tool_calls=message.get("tool_calls"),
                finish_reason=choice.get("finish_reason"),
                usage=usage,
                latency_s=round(time.monotonic() - started, 3),
            )
            return message

    def _run_tool(self, call: ToolCall) -> str:
        """Run one call and return what the model sees; a tool's failure is reported, not raised."""
        tool, started, details = self.tools.get(call.name), time.monotonic(), {}
        if tool is None:
            output = f"Error: there is no tool named {call.name!r}; the tools are {', '.join(self.tools)}."
        elif call.error:
            output = f"Error: {call.error}."
        else:
            try:
                output = tool.run(**call.arguments)
                details = dict(getattr(output, "record", {}))
            except Exception as exc:
                output = f"Error: the {call.name} tool failed: {type(exc).__name__}: {exc}"
                details = {"traceback": traceback.format_exc()}
        output = clip(str(output), self.settings.observation_chars)
        self.trajectory.write(
            "tool",
            step=self.steps,
            name=call.name,
            arguments=call.arguments,
            output=output,
            duration_s=round(time.monotonic() - started, 3),
            **details,
        )
        return output

    def _may_switch(self) -> bool:
        return self.mode == "native" and self.settings.tool_mode == "auto"

    def _text_system_message(self) -> dict[str, str]:
        return {"role": "system", "content": load_prompt("text_tools.md", tools=tools_listing(self.tools))}

    def _format_error_message(self, error: str) -> str:
        return (
            f"Your <tool_call> block could not be read: {error}. Write one block of the form "
            '<tool_call>{"name": "...", "arguments": {...}}</tool_call>, or reply without a block when you are done.'
        )

    def _switch_to_text(self, reason: str) -> None:
        """Continue with the text protocol; earlier native calls and results are rewritten as text turns."""
        names: dict[str, str] = {}
        history: list[dict[str, Any]] = [self._text_system_message()]
        for message in self.messages:
            if message["role"] == "assistant" and message.get("tool_calls"):
                calls = native_calls(message)
                names.update({call.id: call.name for call in calls})
                text = "\n".join([message.get("content") or "", *(call.as_text() for call in calls)]).strip()
                history.append({"role": "assistant", "content": text})
            elif message["role"] == "tool":
                name = names[message["tool_call_id"]]  # every tool message follows the call it answers
                history.append({"role": "user", "content": f"Result of the {name} tool:\n{message['content']}"})
            else:
                history.append(message)
        self.messages = history
        self.trajectory.write("mode_switch", step=self.steps, mode_from=self.mode, mode_to="text", reason=reason)
        self.mode = "text"


def tools_refused(exc: Exception) -> bool:
    """The gateway's 400 for a request the model service cannot take because of its tools."""
    kind = getattr(exc, "kind", None)
    return getattr(exc, "status", None) == 400 and kind != CONTEXT_EXCEEDED and bool(TOOLS_REFUSED.search(str(exc)))


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, Settings]:
    parser = argparse.ArgumentParser(description="opendgm dgm-initial seed agent")
    parser.add_argument("--task", type=Path, required=True, help="file holding the task statement")
    parser.add_argument("--repo", type=Path, required=True, help="repository to change")
    parser.add_argument("--trajectory", type=Path, required=True, help="JSONL file to append the run to")
    parser.add_argument("--max-steps", type=_positive(int), help="model calls at most (default: no cap)")
    parser.add_argument("--time-limit-s", type=_positive(float), help="stop asking the model after this long")
    parser.add_argument("--token-limit", type=_positive(int), help="stop once this many tokens were used")
    parser.add_argument(
        "--max-reply-tokens", type=_positive(int), help=f"reply size (default ${REPLY_TOKENS_ENV} or 4096)"
    )
    parser.add_argument("--command-timeout-s", type=_positive(float), default=Settings.command_timeout_s)
    parser.add_argument("--observation-chars", type=_positive(int), default=Settings.observation_chars)
    parser.add_argument("--tool-mode", choices=TOOL_MODES, default="auto", help="native tool calls, text, or auto")
    args, _unknown = parser.parse_known_args(argv)  # the contract: options this agent does not know are tolerated
    if args.max_reply_tokens is None:
        from_env = os.environ.get(REPLY_TOKENS_ENV, "").strip()
        try:
            args.max_reply_tokens = _positive(int)(from_env) if from_env else Settings.max_reply_tokens
        except (ValueError, argparse.ArgumentTypeError):
            parser.error(f"{REPLY_TOKENS_ENV} must be a positive integer, got {from_env!r}")
    settings = Settings(**{name: getattr(args, name) for name in asdict(Settings()) if hasattr(args, name)})
    return args, settings


def main(argv: list[str]) -> int:
    args, settings = parse_args(argv)
    trajectory = Trajectory(args.trajectory)
    try:
        return run_task(args, settings, trajectory)
    finally:
        trajectory.close()


def run_task(args: argparse.Namespace, settings: Settings, trajectory: Trajectory) -> int:
    """One run from the command line's settings; returns the exit code and leaves an `exit` record."""
    deadline = time.monotonic() + settings.time_limit_s if settings.time_limit_s else None
    start = {"agent": AGENT_NAME, "settings": asdict(settings), "task": str(args.task)}
    try:
        tools = load_tools()
    except ToolLoadError as exc:
        trajectory.write("start", **start, tools=[])
        trajectory.write("exit", status="broken_tools", error=str(exc))
        print(f"broken tools: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    trajectory.write("start", **start, tools=[tool.name for tool in tools])
    try:
        from gateway_client import GatewayError, chat
    except ImportError as exc:
        trajectory.write("exit", status="model_error", error=f"gateway client missing: {exc}")
        return EXIT_MODEL_ERROR
    repo = args.repo.resolve()
    agent = Agent(chat, tools, settings, trajectory, GatewayError, deadline)
    try:
        for tool in tools:
            tool.setup(ToolContext(repo, settings.command_timeout_s, settings.observation_chars, deadline))
        status = agent.run(args.task.read_text(encoding="utf-8"), repo)
    except GatewayError as exc:
        trajectory.write("exit", status="model_error", error=str(exc), steps=agent.steps, tokens=agent.tokens)
        print(f"model error: {exc}", file=sys.stderr)
        return EXIT_MODEL_ERROR
    finally:
        for tool in tools:
            tool.close()
    ending = {"error": agent.error} if agent.error else {}
    trajectory.write("exit", status=status, steps=agent.steps, tokens=agent.tokens, mode=agent.mode, **ending)
    return EXIT_DONE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
