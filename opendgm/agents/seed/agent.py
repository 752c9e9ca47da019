"""The opendgm seed agent: a small, stdlib-only coding agent that can rewrite itself.

Each turn the model answers with one fenced ```bash block; the agent runs it in the repository and shows
the model the output. The run ends when the model runs `submit`, or at a step, time or token limit. The
answer is the change left in the repository; the trajectory is written as JSONL. The agent reaches a
model only through the opendgm gateway (module `gateway_client`, provided by the framework).

The invocation contract is in opendgm/agents/CONTRACT.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template
from typing import Any

HERE = Path(__file__).resolve().parent
ACTION = re.compile(r"```(?:bash|sh|shell)?[ \t]*\n(.*?)```", re.DOTALL)
SUBMIT_COMMAND = "submit"

# Exit codes of the agent process (the evaluator reads them).
EXIT_DONE = 0
EXIT_USAGE = 2
EXIT_MODEL_ERROR = 3

Chat = Callable[..., dict]


@dataclass
class Limits:
    """Everything that bounds one run."""

    max_steps: int = 30
    time_limit_s: float = 600.0
    token_limit: int = 200_000
    command_timeout_s: float = 120.0
    observation_chars: int = 10_000
    max_format_errors: int = 3
    max_reply_tokens: int = 1024


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


def parse_action(reply: str) -> str | None:
    """The command in the reply's first fenced block, or None when there is none."""
    match = ACTION.search(reply)
    return match.group(1).strip() if match else None


def run_command(command: str, cwd: Path, timeout: float, limit: int) -> tuple[int, str]:
    """Run one shell command; the output is clipped in the middle so both ends stay visible."""
    try:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        partial = (exc.stdout or b"") + (exc.stderr or b"")
        text = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        code, output = 124, f"{text}\n[command timed out after {timeout:g}s]"
    if len(output) > limit:
        half = limit // 2
        output = f"{output[:half]}\n[... {len(output) - limit} characters clipped ...]\n{output[-half:]}"
    return code, output


class Agent:
    """The loop: ask, act, observe, until the model submits or a limit is reached."""

    def __init__(self, chat: Chat, repo: Path, limits: Limits, trajectory: Trajectory) -> None:
        self.chat, self.repo, self.limits, self.trajectory = chat, repo, limits, trajectory
        self.tokens = 0

    def run(self, statement: str) -> str:
        values = {"repo": str(self.repo), "tools": str(HERE / "tools"), "submit": SUBMIT_COMMAND}
        messages = [
            {"role": "system", "content": load_prompt("system.md", **values)},
            {"role": "user", "content": load_prompt("instance.md", statement=statement, **values)},
        ]
        started, format_errors = time.monotonic(), 0
        for step in range(1, self.limits.max_steps + 1):
            if time.monotonic() - started > self.limits.time_limit_s:
                return "time_limit"
            if self.tokens >= self.limits.token_limit:
                return "token_limit"
            reply = self._ask(messages, step)
            messages.append({"role": "assistant", "content": reply})
            command = parse_action(reply)
            if command is None:
                format_errors += 1
                if format_errors >= self.limits.max_format_errors:
                    return "format_errors"
                messages.append({"role": "user", "content": load_prompt("format_error.md", **values)})
                continue
            format_errors = 0
            if command.splitlines()[0].strip() == SUBMIT_COMMAND:
                self.trajectory.write("submit", step=step)
                return "submitted"
            code, output = run_command(command, self.repo, self.limits.command_timeout_s, self.limits.observation_chars)
            self.trajectory.write("action", step=step, command=command, exit_code=code, output=output)
            messages.append({"role": "user", "content": f"exit code: {code}\n{output}"})
        return "step_limit"

    def _ask(self, messages: list[dict], step: int) -> str:
        started = time.monotonic()
        response = self.chat(messages, max_tokens=self.limits.max_reply_tokens)
        usage = response.get("usage") or {}
        self.tokens += int(usage.get("total_tokens") or 0)
        reply = response["choices"][0]["message"].get("content") or ""
        self.trajectory.write(
            "model", step=step, reply=reply, usage=usage, latency_s=round(time.monotonic() - started, 3)
        )
        return reply


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="opendgm seed agent")
    parser.add_argument("--task", type=Path, required=True, help="file holding the task statement")
    parser.add_argument("--repo", type=Path, required=True, help="repository to change")
    parser.add_argument("--trajectory", type=Path, required=True, help="JSONL file to append the run to")
    for name, value in asdict(Limits()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    limits = Limits(**{name: getattr(args, name) for name in asdict(Limits())})
    trajectory = Trajectory(args.trajectory)
    trajectory.write("start", agent="opendgm-seed", limits=asdict(limits), task=str(args.task))
    try:
        from gateway_client import GatewayError, chat
    except ImportError as exc:
        trajectory.write("exit", status="model_error", error=f"gateway client missing: {exc}")
        return EXIT_MODEL_ERROR
    agent = Agent(chat, args.repo, limits, trajectory)
    try:
        status = agent.run(args.task.read_text(encoding="utf-8"))
    except GatewayError as exc:
        trajectory.write("exit", status="model_error", error=str(exc), tokens=agent.tokens)
        print(f"model error: {exc}", file=sys.stderr)
        return EXIT_MODEL_ERROR
    trajectory.write("exit", status=status, tokens=agent.tokens)
    trajectory.close()
    return EXIT_DONE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
