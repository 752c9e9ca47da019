"""Docker sandboxes started ahead of need, so a grading does not wait for a container to be created and started.

Sandboxes are pooled by their whole spec (image, limits, mounts, owner: all fixed when a container is created).
Taking one hands out a container that was started in the background while others ran, and starts the next; the
pool keeps as many spares of a spec as were ever in use at once (the worker count, learnt, capped). Nothing is
shared between tasks: a sandbox serves the one caller that took it and is removed when that caller closes it
(in the background); a spare carries the same owner labels as any sandbox, so the reaper removes it if the
process dies, and the spares still waiting at exit are closed with the other open sandboxes.

A spec whose sandboxes run one command each (the first command is also the last, as a grading's is), once that
is seen, gets spares waiting for their one command (`DockerSandbox(waiting=True)`): the command runs as the
container's own process, with no exec into it; a spare used otherwise replaces its container, and the spec's next
spares are kept ones again.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from opendgm.sandbox.base import SandboxError
from opendgm.sandbox.spec import SandboxSpec

if TYPE_CHECKING:
    from opendgm.sandbox.docker_backend import DockerSandbox as Sandbox

log = logging.getLogger(__name__)

MAX_SPARES = 8  # per spec, whatever the concurrency seen


class SandboxPool:
    """Spares per spec, created by `start` on background threads."""

    def __init__(
        self,
        start: Callable[[SandboxSpec, bool], Sandbox],
        max_spares: int = MAX_SPARES,
    ) -> None:
        """`start(spec, waiting)` makes a started sandbox (waiting for one command, see the module docstring)."""
        self._start = start
        self._single: set[str] = set()  # specs whose sandboxes ran one command each
        self._max = max_spares
        self._lock = threading.Lock()
        self._spares: dict[str, deque[Future[Sandbox]]] = {}
        self._in_use: dict[str, int] = {}
        self._peak: dict[str, int] = {}
        self._starter = ThreadPoolExecutor(max_workers=2, thread_name_prefix="opendgm-sandbox-pool")

    def take(self, spec: SandboxSpec) -> Sandbox:
        """A started sandbox for `spec`, never handed out before; the caller closes it (which removes it)."""
        key = spec.model_dump_json()
        with self._lock:
            spares = self._spares.setdefault(key, deque())
            spare = spares.popleft() if spares else None
            self._in_use[key] = self._in_use.get(key, 0) + 1
            self._peak[key] = max(self._peak.get(key, 0), self._in_use[key])
            waiting = key in self._single
            for _ in range(min(self._peak[key], self._max) - len(spares)):
                spares.append(self._starter.submit(self._start, spec, waiting))
        sandbox = self._ready(spare) or self._start(spec, waiting)
        sandbox.on_close(lambda: self._released(key))
        sandbox.first_use = lambda last: self._learn(key, last)
        return sandbox

    def _learn(self, key: str, single: bool) -> None:
        """A sandbox of this spec was first used for its last command (`single`) or not: when that changes what
        the spec's spares should be, the ones started are closed and the next ones started the other way."""
        with self._lock:
            if single == (key in self._single):
                return
            (self._single.add if single else self._single.discard)(key)
            spares = self._spares.pop(key, deque())
        for future in spares:
            future.add_done_callback(_close_started)

    @staticmethod
    def _ready(spare: Future[Sandbox] | None) -> Sandbox | None:
        """The spare's sandbox once started; None when there is none or it failed (the caller starts one itself,
        which reports the engine's failure if it persists)."""
        if spare is None:
            return None
        try:
            sandbox = spare.result()
        except SandboxError as exc:
            log.info("a pre-started sandbox failed to start (%s); starting one now", exc)
            return None
        return None if sandbox.closed else sandbox

    def _released(self, key: str) -> None:
        with self._lock:
            self._in_use[key] -= 1

    def settle(self) -> int:
        """Wait until every spare being started is started (or failed); how many are ready. For measuring: the
        spares' start-up is then paid by the gradings that asked for them, not by whatever runs next."""
        with self._lock:
            spares = [future for queue in self._spares.values() for future in queue]
        return sum(self._ready(future) is not None for future in spares)

    def close(self) -> None:
        """Close every spare (started or starting); the pool keeps working afterwards, empty."""
        with self._lock:
            spares = [future for queue in self._spares.values() for future in queue]
            self._spares.clear()
        for future in spares:
            future.add_done_callback(_close_started)


def _close_started(future: Future[Sandbox]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    try:
        future.result().close()
    except Exception as exc:  # one spare that cannot be closed is left to the reaper (its labels)
        log.warning("could not close a spare sandbox: %s", exc)
