"""Issue 12, holes 5 and 6 from inside real sandboxes, on both backends: hostile fields sent from a sandbox get a
400, and a sandbox that floods its gateway socket with connections does not make another sandbox's calls fail."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import opendgm.llm.gateway_client as gateway_client
from opendgm.sandbox import Mount, SandboxSpec, open_sandbox
from tests.support.gateway_attack import router_for

SHARED = "/shared"  # a host folder both sandboxes see, for the two scripts to take turns

ATTACKER = """
import json, os, socket, time
from gateway_client import GatewayError, chat

def status(messages, **params):
    try:
        chat(messages, **params)
        return 200
    except GatewayError as error:
        return error.status

hi = [{"role": "user", "content": "hi"}]
image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://169.254.169.254/"}}]}]
statuses = {
    "negative max_tokens": status(hi, max_tokens=-1),
    "float max_tokens": status(hi, max_tokens=2.5),
    "string max_tokens": status(hi, max_tokens="5"),
    "image_url": status(image),
}
held = []
for _ in range(300):
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.setblocking(False)
    if client.connect_ex(os.environ["OPENDGM_GATEWAY_SOCKET"]) == 0:
        held.append(client)
    else:
        client.close()
open("/shared/flooding", "w").close()
deadline = time.monotonic() + 60
while not os.path.exists("/shared/done") and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({"statuses": statuses, "held": len(held)}))
"""

VICTIM = """
import json, os, time
from gateway_client import GatewayError, chat

deadline = time.monotonic() + 60
while not os.path.exists("/shared/flooding") and time.monotonic() < deadline:
    time.sleep(0.05)
statuses = []
for _ in range(10):
    try:
        statuses.append(chat([{"role": "user", "content": "hi"}], max_tokens=5)["choices"][0]["message"]["content"])
    except GatewayError as error:
        statuses.append(str(error))
open("/shared/done", "w").close()
print(json.dumps(statuses))
"""


def _spec(gateway, node: str, shared: Path) -> SandboxSpec:
    token = gateway.issue_token(node, "agent")
    return SandboxSpec(
        gateway_socket=gateway.socket_for(token),
        gateway_token=token,
        campaign="test",
        mounts=[Mount(host_path=shared, sandbox_path=SHARED, read_only=False)],
    )


def _run(spec: SandboxSpec, backend: str, script: str, out: dict[str, object]) -> None:
    with open_sandbox(spec, backend=backend) as sandbox:
        client = Path(gateway_client.__file__).read_text()
        sandbox.put_files("/workspace", {"gateway_client.py": client, "script.py": script})
        out["result"] = sandbox.exec("python3 script.py", timeout=120)


@pytest.mark.parametrize("backend", [pytest.param("docker", marks=pytest.mark.docker), "local"], indirect=True)
def test_a_hostile_sandbox_is_refused_and_cannot_starve_another(backend, fake_provider, make_gateway, socket_dir):
    shared = socket_dir / "shared"  # traversable by the local backend's unprivileged user
    shared.mkdir()
    shared.chmod(0o777)
    gateway = make_gateway(router_for(fake_provider))
    attacker: dict[str, object] = {}
    flood = threading.Thread(target=_run, args=(_spec(gateway, "attacker", shared), backend, ATTACKER, attacker))
    flood.start()
    victim: dict[str, object] = {}
    _run(_spec(gateway, "victim", shared), backend, VICTIM, victim)
    flood.join(timeout=180)

    attacked, served = attacker["result"], victim["result"]
    assert attacked.exit_code == 0 and served.exit_code == 0, (attacked.stderr, served.stderr)
    assert json.loads(served.stdout) == ["hello"] * 10
    report = json.loads(attacked.stdout)
    assert report["statuses"] == {
        "negative max_tokens": 400,
        "float max_tokens": 400,
        "string max_tokens": 400,
        "image_url": 400,
    }
    assert report["held"] > 0  # it did flood
    assert all(call["body"]["max_tokens"] == 5 for call in fake_provider.requests)  # only the victim's calls
