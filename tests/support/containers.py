"""Docker containers as the tests see them, through the engine itself."""

from __future__ import annotations

from docker.errors import NotFound

from opendgm.sandbox.docker_client import docker_client


def exists(container_id: str) -> bool:
    """Whether the engine still has the container (running, stopped or paused)."""
    try:
        docker_client().containers.get(container_id)
    except NotFound:
        return False
    return True
