"""`opendgm llm ...`: serve a local model, check that every configured role answers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from opendgm.llm.errors import ConfigError, ConnectionFailed, LLMError, LLMTimeout, RetriesExhausted
from opendgm.llm.local_server import LocalServer, LocalServerConfig, LocalServerError
from opendgm.llm.roles import LLMConfig, RetryPolicy, RoleConfig
from opendgm.llm.router import Completion, Router

app = typer.Typer(help="Models: local servers and reachability checks.", no_args_is_help=True)
console = Console()

CHECK_PROMPT = "Reply with one word: ready"


@app.command()
def serve(
    gguf: Path | None = typer.Option(None, help="GGUF file for llama.cpp (default: embedded SmolLM2-135M)."),
    vllm: str | None = typer.Option(None, help="Serve this model with vLLM instead (needs a GPU)."),
    port: int | None = typer.Option(None, help="Loopback port (default: a free one)."),
    log: Path | None = typer.Option(None, help="Server log file."),
) -> None:
    """Start a local OpenAI-compatible server and keep it running until Ctrl-C."""
    if gguf and vllm:
        raise typer.BadParameter("give --gguf or --vllm, not both")
    config = LocalServerConfig(
        kind="vllm" if vllm else "llama_cpp",
        model=vllm or (str(gguf) if gguf else None),
        port=port,
        log_path=log,
    )
    server = LocalServer(config)
    console.print(f"starting {config.kind} on port {server.port} (log {server.log_path}) ...")
    try:
        with server as base_url:
            console.print(f"[green]serving[/] {base_url}")
            console.print(f"a role reaches it with model openai/{config.name}, api_base {base_url}; Ctrl-C stops it")
            while server.alive():
                time.sleep(1)
            console.print(f"[red]the server exited[/]; see {server.log_path}")
            raise typer.Exit(1)
    except LocalServerError as error:
        console.print(f"[red]error:[/] {escape(str(error))}")
        raise typer.Exit(1) from error
    except KeyboardInterrupt:
        console.print("stopped")


@dataclass(frozen=True)
class RoleCheck:
    role: str
    model: str
    latency_s: float
    completion: Completion | None
    error: LLMError | None

    @property
    def reachable(self) -> bool:
        """Whether the endpoint answered at all (a refused key is an answer; a refused connection is not)."""
        error = self.error.last if isinstance(self.error, RetriesExhausted) else self.error
        return not isinstance(error, ConnectionFailed | LLMTimeout | ConfigError)


def check_roles(roles: dict[str, RoleConfig], max_tokens: int) -> list[RoleCheck]:
    """One short request per role, each through its own Router so one bad role cannot hide the others."""
    results = []
    for name, role in roles.items():
        started = time.monotonic()
        completion, error = None, None
        try:
            router = Router({name: role}, retry=RetryPolicy(attempts=2, initial_s=0.5, jitter_s=0.2))
            completion = router.complete(
                name, [{"role": "user", "content": CHECK_PROMPT}], purpose="check", max_tokens=max_tokens
            )
        except LLMError as exc:
            error = exc
        results.append(RoleCheck(name, role.model, time.monotonic() - started, completion, error))
    return results


def _table(results: list[RoleCheck]) -> Table:
    table = Table(title="model roles")
    for column in ("role", "model", "reachable", "latency", "tokens", "cost", "error"):
        table.add_column(column)
    for r in results:
        call = r.completion.call if r.completion else None
        table.add_row(
            r.role,
            r.model,
            "[green]yes[/]" if r.reachable else "[red]no[/]",
            f"{r.latency_s:.2f}s",
            f"{call.prompt_tokens}+{call.completion_tokens}" if call else "-",
            f"${call.cost_usd:.6f}" if call else "-",
            f"[red]{escape(str(r.error))}[/]" if r.error else "[green]ok[/]",
        )
    return table


@app.command()
def check(
    config: Path | None = typer.Option(None, help="models.yaml with a `roles:` map (default: embedded model)."),
    max_tokens: int = typer.Option(8, help="Completion cap of each check request."),
) -> None:
    """Send one request per configured role and show who answered, how fast and at what cost."""
    if config is not None:
        results = check_roles(LLMConfig.from_yaml(config).roles, max_tokens)
    else:
        console.print("no --config: starting the embedded llama.cpp server and checking role `agent`")
        server = LocalServer()
        try:
            with server:
                results = check_roles({"agent": server.role()}, max_tokens)
        except LocalServerError as error:
            console.print(f"[red]error:[/] {escape(str(error))}")
            raise typer.Exit(1) from error
    console.print(_table(results))
    if any(r.error for r in results):
        raise typer.Exit(1)
