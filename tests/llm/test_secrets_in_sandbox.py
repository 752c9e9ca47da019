"""Invariant 1 (no secret in a sandbox): a process inside a sandbox completes a model call through the gateway
while no API key is anywhere in its environment. The fake provider demands the key, so the call only succeeds because
the host added it on the far side of the gateway."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import opendgm.llm.gateway_client as gateway_client
from opendgm.sandbox import SandboxSpec, open_sandbox
from tests.support.llm_fakes import SECRET, SECRET_ENV

PROBE = """
import json, os
from gateway_client import chat

reply = chat([{"role": "user", "content": "hi"}], max_tokens=5)
print(json.dumps({"env": dict(os.environ), "reply": reply["choices"][0]["message"]["content"]}))
"""


@pytest.mark.parametrize("backend", [pytest.param("docker", marks=pytest.mark.docker), "local"], indirect=True)
def test_a_sandboxed_call_succeeds_without_the_key_in_the_sandbox(backend, fake_provider, make_router, make_gateway):
    fake_provider.require_key = True
    assert os.environ[SECRET_ENV] == SECRET  # the host does hold the key
    router = make_router()
    gateway = make_gateway(router)
    token = gateway.issue_token("node-s", "agent")
    spec = SandboxSpec(gateway_socket=gateway.socket_path, gateway_token=token, campaign="test")

    with open_sandbox(spec, backend=backend) as sandbox:
        client = Path(gateway_client.__file__).read_text()
        sandbox.put_files("/workspace", {"gateway_client.py": client, "probe.py": PROBE})
        result = sandbox.exec("python3 probe.py", timeout=60)

    assert result.exit_code == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["reply"] == "hello"
    assert SECRET not in result.stdout + result.stderr
    assert SECRET_ENV not in seen["env"]
    assert seen["env"]["OPENDGM_GATEWAY_TOKEN"] == token  # only the sandbox's own gateway token
    assert fake_provider.requests[-1]["headers"]["authorization"] == f"Bearer {SECRET}"
    (row,) = router.ledger.calls()
    assert (row.node, row.outcome) == ("node-s", "ok")
