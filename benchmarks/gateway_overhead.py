"""Latency the gateway path adds to a model call (goal: under 5 ms).

Starts the embedded llama.cpp server, a Router and a Gateway, then runs a separate client process (as a
sandbox would be: the stdlib `gateway_client.py` copied next to it) that sends the same short request N
times each way, interleaved so that drift in the model's speed hits both alike:

  direct   plain HTTP from the client process to the llama.cpp server on loopback
  gateway  the client over the unix socket -> Gateway -> Router (litellm) -> llama.cpp

The host then times the Router in-process, which splits the difference into what litellm costs and what
the socket hop costs.

    python benchmarks/gateway_overhead.py [-n 30] [--max-tokens 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import opendgm.llm.gateway_client as gateway_client
from opendgm.llm import Gateway, LocalServer, LocalServerConfig, Router

MESSAGES = [{"role": "user", "content": "Say yes."}]

# Runs in the client process, next to a copy of gateway_client.py; argv: base_url n params-json.
CLIENT = """
import http.client, json, sys, time
from urllib.parse import urlsplit
from gateway_client import chat

base, n, params = urlsplit(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
messages = json.loads(sys.argv[4])
body = json.dumps({"model": "local", "messages": messages, **params})

def direct():
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200, response.read()
        return json.loads(response.read())
    finally:
        conn.close()

paths = {"direct": direct, "gateway": lambda: chat(messages, **params)}
for call in paths.values():
    call()
samples, tokens = {name: [] for name in paths}, {}
for _ in range(n):
    for name, call in paths.items():
        started = time.perf_counter()
        reply = call()
        samples[name].append(time.perf_counter() - started)
        tokens[name] = reply["usage"]["completion_tokens"]
print(json.dumps({"samples": samples, "tokens": tokens}))
"""


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _client_samples(server: LocalServer, router: Router, workdir: Path, n: int, params: dict) -> dict:
    """Run CLIENT in its own process, as a sandboxed agent would be, against the server and the gateway."""
    shutil.copy(gateway_client.__file__, workdir)
    with Gateway(router, workdir / "gw.sock") as gateway:
        env = {
            gateway_client.SOCKET_ENV: str(gateway.socket_path),
            gateway_client.TOKEN_ENV: gateway.issue_token("bench", "agent"),
        }
        argv = [server.base_url, str(n), json.dumps(params), json.dumps(MESSAGES)]
        run = subprocess.run(
            [sys.executable, "-c", CLIENT, *argv], cwd=workdir, env=env, capture_output=True, text=True, check=True
        )
    return json.loads(run.stdout)


def _router_samples(router: Router, n: int, params: dict) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        router.complete("agent", MESSAGES, **params)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description="Latency the gateway path adds to a model call.")
    parser.add_argument("-n", type=int, default=30, help="requests per path")
    parser.add_argument("--max-tokens", type=int, default=2)
    args = parser.parse_args()
    params = {"max_tokens": args.max_tokens, "temperature": 0, "seed": 1}

    with tempfile.TemporaryDirectory(prefix="odgm-bench-") as tmp:
        server = LocalServer(LocalServerConfig(log_path=Path(tmp) / "llama.log"))
        with server:
            router = Router({"agent": server.role()})
            client = _client_samples(server, router, Path(tmp), args.n, params)
            in_process = _router_samples(router, args.n, params)

    direct, gated = (_median_ms(client["samples"][name]) for name in ("direct", "gateway"))
    routed = _median_ms(in_process)
    print(f"{args.n} requests per path, max_tokens={args.max_tokens}, completion tokens {client['tokens']}")
    print(f"  direct   client process -> llama.cpp (HTTP, loopback)       median {direct:7.2f} ms")
    print(f"  gateway  client process -> socket -> Gateway -> Router      median {gated:7.2f} ms")
    print(f"  (router  host process, Router in-process (litellm)          median {routed:7.2f} ms)")
    print(f"added by the gateway path over direct: {gated - direct:.2f} ms (goal < 5 ms);")
    print(f"  of which the Router/litellm ~{routed - direct:.2f} ms, the socket hop ~{gated - routed:.2f} ms")


if __name__ == "__main__":
    main()
