"""Fixtures of the security tests: canaries the host holds and no agent may ever see."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendgm.sandbox import reachable_scratch


@pytest.fixture
def root_only_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A file only the host's user can read (root here, as on the reviewer's machine), and its canary."""
    canary = f"ROOT-ONLY-{secrets.token_hex(8)}"
    folder = tmp_path_factory.mktemp("private")
    folder.chmod(0o700)
    path = folder / "secret.txt"
    path.write_text(canary)
    path.chmod(0o600)
    assert os.stat(path).st_uid == os.geteuid()
    return path, canary


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder the local backend's unprivileged user can reach (agent code is mounted from here)."""
    with reachable_scratch(prefix="opendgm-security-") as folder:
        yield folder
