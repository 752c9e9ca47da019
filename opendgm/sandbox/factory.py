"""Choosing a backend and opening sandboxes, with start-up and exit clean-up of abandoned containers."""

from __future__ import annotations

import atexit
import functools
import logging
import weakref
from typing import Literal

from opendgm.sandbox.base import Sandbox, SandboxError
from opendgm.sandbox.docker_client import docker_available
from opendgm.sandbox.local_backend import LocalSandbox
from opendgm.sandbox.reaper import reap_abandoned_sandboxes
from opendgm.sandbox.spec import SandboxSpec

log = logging.getLogger(__name__)

BackendName = Literal["auto", "docker", "local"]
_open_sandboxes: weakref.WeakSet[Sandbox] = weakref.WeakSet()


def choose_backend(requested: BackendName = "auto") -> Literal["docker", "local"]:
    """`auto` is Docker when an engine answers, otherwise local; the choice is logged with its reason."""
    if requested == "local":
        return "local"
    problem = docker_available()
    if requested == "docker":
        if problem:
            raise SandboxError(f"the Docker backend was requested but no engine answers: {problem}")
        return "docker"
    choice: Literal["docker", "local"] = "local" if problem else "docker"
    _announce(choice, problem)
    return choice


@functools.cache
def _announce(choice: str, problem: str | None) -> None:
    """Say which backend `auto` chose, once per process and choice (not once per sandbox)."""
    if problem:
        log.warning("sandbox backend: local (no Docker engine answers: %s)", problem)
    else:
        log.info("sandbox backend: docker")


@functools.lru_cache(maxsize=1)
def docker_housekeeping() -> None:
    """Once per process: reap what crashed owners left behind, and again at exit."""
    reap_abandoned_sandboxes()
    atexit.register(_reap_at_exit)


def _reap_at_exit() -> None:
    try:
        reap_abandoned_sandboxes()
    except Exception as exc:  # at interpreter exit the engine may already be unreachable
        log.warning("exit-time reaping skipped: %s", exc)


@atexit.register
def _close_open_sandboxes() -> None:
    """Sandboxes this process still holds at exit are closed, so no container or workspace outlives it."""
    for sandbox in list(_open_sandboxes):
        sandbox.close()


def open_sandbox(spec: SandboxSpec, backend: BackendName = "auto") -> Sandbox:
    """Start a sandbox for `spec` on the chosen backend. Use it as a context manager."""
    if choose_backend(backend) == "local":
        sandbox: Sandbox = LocalSandbox(spec)
    else:
        from opendgm.sandbox.docker_backend import DockerSandbox

        docker_housekeeping()
        sandbox = DockerSandbox(spec)
    _open_sandboxes.add(sandbox)
    return sandbox
