"""A campaign directory opened once, the same way by every entry point: agent campaigns (`Campaign`), prompt
campaigns (`PromptCampaign`) and `opendgm evaluate` (and so `opendgm.run` and `opendgm.evaluate`).

`Archive.open_or_create` opens the archive (made first when the directory holds none); `open_session` starts
the model router, with the local model server the config names if any, billing every call to the archive's
ledger, and the gateway through which sandboxes reach the models; what it started stops when its block ends.
`prepare_sandboxes` readies the backend (the runtime image, the leftovers of killed runs) before the first
sandbox. Where the work runs (a local pool, or a Ray cluster) is made from config by `cluster.make_executor`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from opendgm.archive import Archive
from opendgm.llm import Gateway, LLMConfig, LocalServerConfig, Router, serve_local_roles
from opendgm.sandbox import DEFAULT_IMAGE, BackendName, build_runtime_image, docker_housekeeping, reachable_scratch

__all__ = ["Session", "open_session", "prepare_sandboxes", "start_models", "start_router"]


@dataclass(frozen=True)
class Session:
    """An open campaign directory: its archive, the router that bills to its ledger, and the gateway the
    sandboxes use. Complete once made; valid inside the `open_session` block that made it."""

    archive: Archive
    router: Router
    gateway: Gateway

    @property
    def root(self) -> Path:
        return self.archive.root


@contextmanager
def open_session(archive: Archive, llm: LLMConfig, local_server: LocalServerConfig | None = None) -> Iterator[Session]:
    """The models of `archive`'s campaign, served until the block ends (the archive stays the caller's to close)."""
    with ExitStack() as stack:
        router, gateway = start_models(archive, llm, local_server, stack)
        yield Session(archive, router, gateway)


def start_models(
    archive: Archive, llm: LLMConfig, local_server: LocalServerConfig | None, stack: ExitStack
) -> tuple[Router, Gateway]:
    """The router of `start_router` and the gateway the sandboxes reach it through, both stopped when `stack`
    closes."""
    router = start_router(archive, llm, local_server, stack)
    # The local backend binds the socket as an unprivileged user, so its folder must be traversable.
    folder = stack.enter_context(reachable_scratch(prefix="odgm-gw-"))
    return router, stack.enter_context(Gateway(router, folder / "gateway.sock"))


def start_router(archive: Archive, llm: LLMConfig, local_server: LocalServerConfig | None, stack: ExitStack) -> Router:
    """The router that bills every call to `archive`'s ledger; roles with `api_base: local` are pointed at a local
    model server started now and stopped when `stack` closes."""
    config = serve_local_roles(llm, local_server, stack)
    return Router.from_config(config, ledger=archive.ledger, campaign=archive.campaign)


def prepare_sandboxes(backend: BackendName, images: set[str], say: Callable[[str], None]) -> None:
    """Before the first sandbox: on Docker, the containers of killed runs are reaped and the runtime image is
    built when one of `images` is it (idempotent: a no-op when the image is up to date)."""
    if backend != "docker":
        return
    docker_housekeeping()
    if DEFAULT_IMAGE in images:
        build_runtime_image(say=say)
