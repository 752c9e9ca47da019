"""Removes abandoned opendgm sandboxes, and nothing else (invariant 6: only our own containers and files,
docs/invariants.md).

Only containers and volumes that carry opendgm's ownership labels are considered, and only those whose
owning process is gone or whose deadline passed are removed (HGM's `docker system prune -f` is the
counter-example: it wipes whatever else the host had). Another opendgm process may be reaping at the
same moment, and containers may be paused or stuck: each container is handled on its own, with short
timeouts, and one that vanishes or cannot be removed is skipped, never a crash or a hang.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

from docker.errors import DockerException, NotFound

from opendgm.sandbox.docker_client import TRANSPORT_ERRORS, control_client
from opendgm.sandbox.owner import LABEL_CAMPAIGN, LABEL_OWNED, LABEL_PID, LABEL_PID_START, Owner, abandoned

log = logging.getLogger(__name__)
ENGINE_ERRORS = (DockerException, *TRANSPORT_ERRORS)


@dataclass(frozen=True)
class Reaped:
    """One removed container and why it was considered abandoned."""

    container: str
    name: str
    reason: str


def reap_abandoned_sandboxes() -> list[Reaped]:
    """Remove abandoned opendgm containers (with their workspace volumes) and orphaned opendgm volumes."""
    removed = _reap(lambda labels: abandoned(labels))
    _reap_volumes()
    return removed


def reap_own_containers(campaign: str | None = None) -> list[Reaped]:
    """Remove this process's own labelled containers (of `campaign`, if given), e.g. when stopped by a signal."""
    me = Owner.current("", 0)

    def ours(labels: dict[str, str]) -> str | None:
        if labels.get(LABEL_PID) != str(os.getpid()) or labels.get(LABEL_PID_START) != me.pid_start:
            return None
        if campaign is not None and labels.get(LABEL_CAMPAIGN) != campaign:
            return None
        return "this process's"

    return _reap(ours)


def _reap(reason_for: object) -> list[Reaped]:
    removed: list[Reaped] = []
    api = control_client().api
    try:
        # A plain listing, not docker-py's list(), which inspects each container and fails on one that vanished.
        listed = api.containers(all=True, filters={"label": f"{LABEL_OWNED}=1"})
    except ENGINE_ERRORS as exc:
        log.warning("could not list sandboxes to reap: %s", exc)
        return removed
    for entry in listed:
        reason = reason_for(entry.get("Labels") or {})  # type: ignore[operator]
        if reason is None:
            continue
        short, name = entry["Id"][:12], (entry.get("Names") or ["?"])[0].lstrip("/")
        if _remove(api, entry["Id"], paused=entry.get("State") == "paused"):
            log.info("removed abandoned sandbox %s (%s)", short, reason)
            removed.append(Reaped(short, name, reason))
    return removed


def _remove(api: object, container_id: str, paused: bool) -> bool:
    """Force-remove one container (thawing it first if paused); False when it is gone or cannot be removed."""
    try:
        if paused:
            with contextlib.suppress(NotFound):
                api.unpause(container_id)  # type: ignore[attr-defined]
        api.remove_container(container_id, force=True, v=True)  # type: ignore[attr-defined]
    except NotFound:
        return False  # another process reaped it first
    except ENGINE_ERRORS as exc:
        log.warning("skipped abandoned sandbox %s: %s", container_id[:12], exc)
        return False
    return True


def _reap_volumes() -> None:
    api = control_client().api
    try:
        volumes = api.volumes(filters={"label": f"{LABEL_OWNED}=1", "dangling": True}).get("Volumes") or []
    except ENGINE_ERRORS as exc:
        log.warning("could not list sandbox volumes to reap: %s", exc)
        return
    for volume in volumes:
        if abandoned(volume.get("Labels") or {}) is None:
            continue
        try:
            api.remove_volume(volume["Name"])
        except ENGINE_ERRORS as exc:  # in use again, or already gone
            log.debug("kept volume %s: %s", volume["Name"], exc)
