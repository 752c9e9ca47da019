"""Choosing a backend and opening sandboxes, with start-up and exit clean-up of abandoned containers."""

from __future__ import annotations

import atexit
import functools
import logging
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal

from opendgm.sandbox.base import EngineFailure, Sandbox
from opendgm.sandbox.docker_client import docker_available
from opendgm.sandbox.local_backend import LocalSandbox
from opendgm.sandbox.pool import SandboxPool
from opendgm.sandbox.reaper import reap_abandoned_sandboxes, reap_own_containers
from opendgm.sandbox.scratch import reap_folders
from opendgm.sandbox.spec import SandboxSpec

if TYPE_CHECKING:
    from opendgm.sandbox.docker_backend import DockerSandbox

log = logging.getLogger(__name__)

BackendName = Literal["auto", "docker", "local", "local-unsafe"]
Chosen = Literal["docker", "local", "local-unsafe"]
BACKEND_NAMES: tuple[str, ...] = BackendName.__args__  # type: ignore[attr-defined]
_open_sandboxes: weakref.WeakSet[Sandbox] = weakref.WeakSet()


def choose_backend(requested: BackendName = "auto") -> Chosen:
    """`auto` is Docker when an engine answers, otherwise local; the choice is logged with its reason.

    `auto` never picks `local-unsafe` (no namespaces): only a user who names it gets it.
    """
    if requested in ("local", "local-unsafe"):
        return requested
    problem = docker_available()
    if requested == "docker":
        if problem:
            raise EngineFailure(f"the Docker backend was requested but no engine answers: {problem}")
        return "docker"
    choice: Chosen = "local" if problem else "docker"
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
    """Once per process: reap the containers crashed owners left behind, and again at exit."""
    folder_housekeeping()
    _reap_containers()
    atexit.register(_reap_containers)


@functools.lru_cache(maxsize=1)
def folder_housekeeping() -> None:
    """Once per process: remove the temporary folders (workspaces, agent code, sockets) of dead runs."""
    try:
        reap_folders()
    except OSError as exc:
        log.warning("temporary folder reaping skipped: %s", exc)


def _reap_containers() -> None:
    try:
        reap_abandoned_sandboxes()
    except Exception as exc:  # the reaper handles the engine's failures; this is the last line of defence
        log.warning("reaping abandoned sandboxes skipped: %s", exc)


def reap_own(campaign: str | None = None) -> None:
    """Remove this process's own sandboxes, containers and temporary folders (of `campaign`, if given).

    For a campaign stopped by a signal: the sandboxes it still holds are closed, labelled containers of
    this process that no sandbox object holds any more are removed, and (for campaign=None only, since
    folders carry no campaign) this process's owner-named temporary folders are deleted.
    """
    for sandbox in list(_open_sandboxes):
        if campaign is None or sandbox.spec.campaign == campaign:
            _close_quietly(sandbox)
    if docker_available() is None:
        reap_own_containers(campaign)
    if campaign is None:
        reap_folders(own=True)


def _close_quietly(sandbox: Sandbox) -> None:
    try:
        sandbox.close()
    except Exception as exc:  # one sandbox that cannot be closed must not keep the others open
        log.warning("could not close sandbox: %s", exc)


@atexit.register
def _close_open_sandboxes() -> None:
    """Sandboxes this process still holds at exit are closed, so no container or workspace outlives it."""
    for sandbox in list(_open_sandboxes):
        _close_quietly(sandbox)


def open_sandbox(spec: SandboxSpec, backend: BackendName = "auto", *, pooled: bool = False) -> Sandbox:
    """Start a sandbox for `spec` on the chosen backend. Use it as a context manager.

    `pooled`: for many short-lived sandboxes of one spec (grading), Docker hands out one started ahead of need
    and starts the next meanwhile; each still serves only this caller and is removed (in the background) when
    closed. The local backend starts in milliseconds and ignores it."""
    chosen = choose_backend(backend)
    if chosen != "docker":
        folder_housekeeping()
        sandbox: Sandbox = LocalSandbox(spec, unsafe=chosen == "local-unsafe")
        _open_sandboxes.add(sandbox)
        return sandbox
    docker_housekeeping()
    return _docker_pool().take(spec) if pooled else _start_docker(spec)


def _start_docker(
    spec: SandboxSpec, remover: Callable[[Callable[[], None]], object] | None = None, waiting: bool = False
) -> DockerSandbox:
    from opendgm.sandbox.docker_backend import DockerSandbox

    sandbox = DockerSandbox(spec, remover, waiting=waiting)
    _open_sandboxes.add(sandbox)
    return sandbox


@functools.lru_cache(maxsize=1)
def _docker_pool() -> SandboxPool:
    """The process's pool of pre-started Docker sandboxes; pooled ones are removed on a background thread."""
    remover = ThreadPoolExecutor(max_workers=2, thread_name_prefix="opendgm-sandbox-remove")
    pool = SandboxPool(lambda spec, waiting: _start_docker(spec, remover.submit, waiting))
    atexit.register(remover.shutdown)  # runs after the open sandboxes are closed (registered later, runs first)
    atexit.register(pool.close)
    return pool
