"""A process killed while a model call is in flight loses no ledger row: the call was recorded `pending`
with its conservative estimate before it was sent, and the archive settles it `interrupted` on reopen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from opendgm.archive import Archive
from opendgm.llm import RoleConfig
from tests.support.llm_fakes import MESSAGES, FakeProvider, Reply, reserved_for

CALLER = textwrap.dedent(
    """
    import sys
    from opendgm.archive import Archive
    from opendgm.llm import RoleConfig, Router

    role = RoleConfig.model_validate_json(sys.argv[2])
    with Archive.open(sys.argv[1]) as archive:
        router = Router({"agent": role}, ledger=archive.ledger, campaign=archive.campaign)
        router.complete("agent", MESSAGES, node="n0001", purpose="killed mid-call")
    """
).replace("MESSAGES", repr(MESSAGES))


def test_a_call_in_flight_at_sigkill_is_settled_as_interrupted(fake_provider: FakeProvider, tmp_path: Path) -> None:
    fake_provider.default = Reply(hang_s=60)
    role = RoleConfig(model="openai/fake", api_base=fake_provider.base_url, max_tokens=40,
                      price={"prompt": 1.0, "completion": 2.0}, timeout_s=120)  # fmt: skip
    Archive.create(tmp_path / "c", "crash").close()
    caller = subprocess.Popen([sys.executable, "-c", CALLER, str(tmp_path / "c"), role.model_dump_json()])
    try:
        deadline = time.monotonic() + 60
        while fake_provider.count == 0:  # the request reached the provider: the row was written before
            assert caller.poll() is None and time.monotonic() < deadline, "the caller never sent its request"
            time.sleep(0.05)
        with Archive.open(tmp_path / "c", readonly=True) as reader:
            (pending,) = reader.ledger.calls()
            assert (pending.outcome, pending.node, reader.ledger.totals().calls) == ("pending", "n0001", 0)
    finally:
        os.kill(caller.pid, signal.SIGKILL)
        caller.wait()

    tokens = reserved_for(role)[1]
    usd = role.price.cost(tokens - role.max_tokens, role.max_tokens)  # the whole max_tokens, at its price
    with Archive.open(tmp_path / "c") as archive:
        (call,) = archive.ledger.calls()
        assert (call.outcome, call.id, call.purpose) == ("interrupted", pending.id, "killed mid-call")
        assert "in flight" in str(call.error)
        assert (call.prompt_tokens + call.completion_tokens, call.cost_usd) == (tokens, usd)
        totals = archive.ledger.totals()
        assert (totals.calls, totals.errors, totals.tokens, totals.cost_usd) == (1, 1, tokens, usd)
        (event,) = [e for e in archive.events() if e.kind == "recovered"]
        assert event.data["interrupted_model_calls"] == 1
