"""What an agent left in its sandbox, brought out under the host's rules and within size caps.

Invariant 7 (agent output never acts on the host, docs/invariants.md).

The repository is streamed out as a tar (never through the agent's own git: its config, attributes and
hooks decide nothing) and imported into a host-rule object store; the diff is the store's. Files the
agent wrote (its trajectory) are read as they stream, up to a cap. So the host's memory is bounded by the
caps, not by what the agent wrote.
"""

from __future__ import annotations

import io
import tarfile
from contextlib import closing

from opendgm.archive import ChunkReader, GitStore, ImportedTree, import_tar
from opendgm.sandbox import Sandbox, SandboxError

PATCH_LIMIT_BYTES = 16 * 2**20  # an agent's diff, and how much its files may grow
ARTIFACT_LIMIT_BYTES = 16 * 2**20  # a file the agent wrote for the host (its trajectory)
TRUNCATED = b"\n[opendgm: truncated at %d bytes]\n"


def capture_tree(sandbox: Sandbox, path: str, store: GitStore, limit: int | None) -> ImportedTree:
    """The folder `path` of the sandbox as a tree in `store` (without `.git`); TooLarge past `limit`."""
    with closing(sandbox.stream_archive(path)) as stream:
        return import_tar(store, stream, limit)


def read_capped(sandbox: Sandbox, path: str, limit: int = ARTIFACT_LIMIT_BYTES) -> bytes:
    """The first `limit` bytes of a regular file in the sandbox (marked when cut); empty when there is none."""
    try:
        with closing(sandbox.stream_archive(path)) as stream:
            reader = io.BufferedReader(ChunkReader(iter(stream)))
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                member = next((m for m in tar if m.isreg()), None)
                handle = tar.extractfile(member) if member is not None else None
                if member is None or handle is None:
                    return b""
                data = handle.read(limit)
                return data + (TRUNCATED % limit if member.size > limit else b"")
    except (SandboxError, tarfile.TarError):
        return b""
