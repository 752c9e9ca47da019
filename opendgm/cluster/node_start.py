"""What a Ray worker process does when it starts on a node: clear what dead workers of that node left behind.

A worker killed mid-task (its node's raylet died, or the process itself) leaves its sandbox containers running and
its temporary folders on disk: nobody is left to close them. The next worker to start on that node removes them,
through the same reaper as a local start-up (`opendgm.sandbox.reaper`): only containers and folders carrying
opendgm's owner labels, on this host, whose owning process is gone or whose deadline passed. Containers that are
not ours, and those of live workers, are never touched (invariant 6: only our own containers and files).
"""

from __future__ import annotations

from typing import Any

from opendgm.sandbox import docker_available, docker_housekeeping, folder_housekeeping

HOOK = f"{__name__}.on_worker_start"


def on_worker_start() -> None:
    """Ray's `worker_process_setup_hook`: reap the node's abandoned sandboxes now, not at the first sandbox a task
    opens (a node whose next tasks use no Docker would otherwise keep the dead worker's containers)."""
    if docker_available() is None:
        docker_housekeeping()  # containers, then folders
    else:
        folder_housekeeping()


def runtime_env(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The job's runtime environment with the start-up hook (never API keys: Ray stores and shows this)."""
    return (extra or {}) | {"worker_process_setup_hook": HOOK}
