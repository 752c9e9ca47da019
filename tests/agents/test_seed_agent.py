"""The seed agent's own test suite passes inside a sandbox, from its read-only code directory."""

from __future__ import annotations

from opendgm.agents.contract import AGENT_ENV, agent_mounts, seed_agent_dir, self_test_command
from opendgm.sandbox import DEFAULT_IMAGE, SandboxSpec, open_sandbox


def test_seed_agent_self_test_passes_in_a_sandbox(backend: str) -> None:
    spec = SandboxSpec(image=DEFAULT_IMAGE, mounts=agent_mounts(seed_agent_dir()), env=dict(AGENT_ENV))
    with open_sandbox(spec, backend) as sandbox:
        result = sandbox.exec(self_test_command(), timeout=120)
        read_only = sandbox.exec("touch /agent/agent.py")
    assert result.ok, result.stdout + result.stderr
    assert "OK" in result.stderr and "Ran 9 tests" in result.stderr
    assert not read_only.ok, "the agent's own code must be read-only while it runs"


def test_gateway_client_is_importable_next_to_the_agent(backend: str) -> None:
    spec = SandboxSpec(image=DEFAULT_IMAGE, mounts=agent_mounts(seed_agent_dir()), env=dict(AGENT_ENV))
    with open_sandbox(spec, backend) as sandbox:
        result = sandbox.exec("python3 -c 'import gateway_client; print(gateway_client.DEFAULT_SOCKET)'")
    assert result.ok and result.stdout.strip() == "/run/opendgm/gateway.sock", result.stderr
