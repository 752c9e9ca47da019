"""Isolated execution of untrusted, self-modified code: Docker when an engine answers, else local."""

from opendgm.sandbox.base import EngineFailure, ExecResult, Sandbox, SandboxError
from opendgm.sandbox.factory import choose_backend, open_sandbox, reap_own
from opendgm.sandbox.scratch import reachable_scratch
from opendgm.sandbox.spec import (
    DEFAULT_IMAGE,
    GATEWAY_SOCKET_ENV,
    GATEWAY_SOCKET_PATH,
    GATEWAY_TOKEN_ENV,
    Limits,
    Mount,
    SandboxSpec,
)

__all__ = [
    "DEFAULT_IMAGE",
    "GATEWAY_SOCKET_ENV",
    "GATEWAY_SOCKET_PATH",
    "GATEWAY_TOKEN_ENV",
    "EngineFailure",
    "ExecResult",
    "Limits",
    "Mount",
    "Sandbox",
    "SandboxError",
    "SandboxSpec",
    "choose_backend",
    "open_sandbox",
    "reachable_scratch",
    "reap_own",
]
