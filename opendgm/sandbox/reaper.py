"""Removes abandoned opendgm sandboxes, and nothing else.

Only containers and volumes that carry opendgm's ownership labels are considered, and only those whose
owning process is gone or whose deadline passed are removed (HGM's `docker system prune -f` is the
counter-example: it wipes whatever else the host had).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from docker.errors import APIError, NotFound

from opendgm.sandbox.docker_client import docker_client
from opendgm.sandbox.owner import LABEL_OWNED, abandoned

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reaped:
    """One removed container and why it was considered abandoned."""

    container: str
    name: str
    reason: str


def reap_abandoned_sandboxes() -> list[Reaped]:
    """Remove abandoned opendgm containers (with their workspace volumes) and orphaned opendgm volumes."""
    client = docker_client()
    removed: list[Reaped] = []
    for container in client.containers.list(all=True, filters={"label": f"{LABEL_OWNED}=1"}):
        reason = abandoned(container.labels)
        if reason is None:
            continue
        try:
            container.remove(force=True, v=True)
        except NotFound:
            continue
        except APIError as exc:
            log.warning("could not remove abandoned sandbox %s: %s", container.short_id, exc)
            continue
        log.info("removed abandoned sandbox %s (%s)", container.short_id, reason)
        removed.append(Reaped(container.short_id, container.name, reason))
    for volume in client.volumes.list(filters={"label": f"{LABEL_OWNED}=1", "dangling": True}):
        if abandoned(volume.attrs.get("Labels") or {}) is None:
            continue
        try:
            volume.remove()
        except APIError as exc:  # in use again, or already gone
            log.debug("kept volume %s: %s", volume.name, exc)
    return removed
