"""Models for an evaluation: a router (ledger in the archive) and a gateway for the sandboxes.

With no model config, the embedded default is started: SmolLM2-135M on a local llama.cpp server, serving
both the agents and (for `llm-judge`) the judge.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from opendgm.archive import Archive
from opendgm.llm import Gateway, LLMConfig, LocalServer, Router
from opendgm.sandbox import reachable_scratch

AGENT_ROLE = "agent"
JUDGE_ROLE = "judge"


@contextmanager
def serve_models(archive: Archive, config_path: Path | None = None) -> Iterator[Gateway]:
    """A running gateway whose router bills every call to `archive`'s ledger; stopped on exit."""
    with ExitStack() as stack:
        if config_path is None:
            server = stack.enter_context(_started(LocalServer()))
            config = LLMConfig(roles={AGENT_ROLE: server.role(max_tokens=512), JUDGE_ROLE: server.role(max_tokens=256)})
        else:
            config = LLMConfig.from_yaml(config_path)
        router = Router.from_config(config, ledger=archive.ledger, campaign=archive.campaign)
        # The local backend binds the socket as an unprivileged user, so its folder must be traversable.
        socket_dir = stack.enter_context(reachable_scratch(prefix="odgm-gw-"))
        yield stack.enter_context(Gateway(router, socket_dir / "gateway.sock"))


@contextmanager
def _started(server: LocalServer) -> Iterator[LocalServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
