"""The process's docker-py clients, the question "does an engine answer?", and what an engine error means.

Every call has a timeout: transfers and container start-up get API_TIMEOUT_S, control calls (inspect,
exec set-up, kill, pause, remove, list) get CONTROL_TIMEOUT_S, so a stuck engine or a paused container
costs seconds, never a hang. (Streamed exec output has no socket timeout in docker-py: the backend's
watchdog bounds it.)
"""

from __future__ import annotations

import functools
import time
import weakref

import docker
import requests
from docker.errors import APIError, DockerException, NotFound

from opendgm.sandbox.base import EngineFailure, SandboxError

API_TIMEOUT_S = 120
CONTROL_TIMEOUT_S = 20
# What a call to the engine can raise besides docker's own errors (docker-py lets these through raw).
TRANSPORT_ERRORS = (requests.exceptions.RequestException, ConnectionError, TimeoutError)
# An engine that answered is taken to answer for this long: every sandbox opened asks, and a ping per grading was
# one engine request in five. An engine lost meanwhile fails the sandbox's own first request (an EngineFailure).
ANSWER_FRESH_S = 30.0
_answered: weakref.WeakKeyDictionary[docker.DockerClient, float] = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=1)
def docker_client() -> docker.DockerClient:
    """The process-wide client for transfers (connection pooling keeps per-call overhead low)."""
    return docker.from_env(timeout=API_TIMEOUT_S)


@functools.lru_cache(maxsize=1)
def control_client() -> docker.DockerClient:
    """The process-wide client for short control calls."""
    return docker.from_env(timeout=CONTROL_TIMEOUT_S)


def docker_available() -> str | None:
    """None when a Docker engine answers (or answered within ANSWER_FRESH_S), else the reason it does not."""
    try:
        client = control_client()  # the client asks the engine for its API version when made
        if time.monotonic() - _answered.get(client, -ANSWER_FRESH_S) < ANSWER_FRESH_S:
            return None
        client.ping()
    except (DockerException, *TRANSPORT_ERRORS) as exc:
        docker_client.cache_clear()
        control_client.cache_clear()
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    _answered[client] = time.monotonic()
    return None


def engine_error(exc: Exception, what: str) -> SandboxError:
    """The sandbox error an engine exception stands for: EngineFailure unless the request itself was bad.

    A 409 (paused, not running), a 5xx, a missing container, a timeout or no answer are the engine's or
    someone else's doing; other 4xx answers are ours (a bad path or argument) and stay plain SandboxErrors.
    """
    if isinstance(exc, NotFound):
        return EngineFailure(f"{what}: the container is gone (removed from outside): {_short(exc)}")
    if isinstance(exc, APIError):
        status = exc.status_code or 500
        if status == 409 or status >= 500:
            return EngineFailure(f"{what}: {_short(exc)}")
        return SandboxError(f"{what}: {_short(exc)}")
    return EngineFailure(f"{what}: the Docker engine did not answer: {type(exc).__name__}: {_short(exc)}")


def _short(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return str(text).splitlines()[0][:300] if text else type(exc).__name__
