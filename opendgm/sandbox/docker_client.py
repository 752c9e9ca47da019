"""One shared docker-py client per process, and the question "does an engine answer?"."""

from __future__ import annotations

import functools

import docker
from docker.errors import DockerException

API_TIMEOUT_S = 120


@functools.lru_cache(maxsize=1)
def docker_client() -> docker.DockerClient:
    """The process-wide client (connection pooling keeps per-call overhead low)."""
    return docker.from_env(timeout=API_TIMEOUT_S)


def docker_available() -> str | None:
    """None when a Docker engine answers, else the reason it does not."""
    try:
        docker_client().ping()
    except DockerException as exc:
        docker_client.cache_clear()
        return str(exc).splitlines()[0][:300]
    except Exception as exc:  # requests/urllib3 errors surface raw when no socket exists
        docker_client.cache_clear()
        return f"{type(exc).__name__}: {exc}"[:300]
    return None
