"""Latency the gateway path adds to a model call (goal: under 5 ms).

Starts the embedded llama.cpp server, a Router and a Gateway, then runs a separate client process (as a
sandbox would be: standard library only, the stdlib `gateway_client.py` copied next to it) that sends the
same short request each way, the two paths alternating (and swapping order every round) so that drift in
the model's speed hits both alike:

  direct   plain HTTP from the client process to the llama.cpp server on loopback
  gateway  the client over the unix socket -> Gateway -> Router -> llama.cpp

Both open a fresh connection per request, as `gateway_client` does. The added latency is the median of the
per-round differences (gateway minus direct), which a slow stretch of the server cannot skew; after warm-up
rounds, which are not timed. The host then times the Router in-process against the same direct request,
alternating again, which splits the difference into what the Router costs (its bookkeeping and its HTTP
client) and what the socket hop (client -> Gateway -> Router) costs.

    python benchmarks/gateway_overhead.py [-n 150] [--max-tokens 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

# opendgm is imported where it is used: the client process imports a copy of this module for its timing
# helpers and, like a sandbox, has nothing but the standard library and a copy of gateway_client.py.
if TYPE_CHECKING:
    from opendgm.llm import LocalServer, Router

GOAL_MS = 5.0
WARMUP = 10
MESSAGES = [{"role": "user", "content": "Say yes."}]

# Runs in the client process, next to copies of gateway_client.py and this file; argv: base_url n warmup
# params messages.
CLIENT = """
import json, sys
from gateway_client import chat
from gateway_overhead import alternate, direct_request

base, n, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
params, messages = json.loads(sys.argv[4]), json.loads(sys.argv[5])
paths = {"direct": direct_request(base, messages, params), "gateway": lambda: chat(messages, **params)}
print(json.dumps(alternate(paths, n, warmup)))
"""


def direct_request(base_url: str, messages: list[dict], params: dict) -> Callable[[], dict]:
    """One POST to the server's chat endpoint on a fresh connection, as a sandbox without a gateway would."""
    url = urlsplit(base_url)
    body = json.dumps({"model": "local", "messages": messages, **params})

    def call() -> dict:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        try:
            conn.request(
                "POST", f"{url.path}/chat/completions", body=body, headers={"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            data = response.read()
            assert response.status == 200, data
            return json.loads(data)
        finally:
            conn.close()

    return call


def alternate(paths: dict[str, Callable[[], dict]], n: int, warmup: int) -> dict:
    """`n` timed rounds (after `warmup` untimed ones) of each path once, in alternating order."""
    names = list(paths)
    samples: dict[str, list[float]] = {name: [] for name in names}
    tokens: dict[str, int] = {}
    for i in range(warmup + n):
        for name in names if i % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            reply = paths[name]()
            elapsed = time.perf_counter() - started
            if i >= warmup:
                samples[name].append(elapsed)
            tokens[name] = reply["usage"]["completion_tokens"]
    return {"samples": samples, "tokens": tokens}


def _ms(seconds: float) -> float:
    return seconds * 1000


def _added(samples: dict[str, list[float]], path: str, base: str) -> tuple[float, float, float]:
    """Median, 25th and 75th percentile of the per-round difference `path` - `base`, in ms."""
    diffs = [a - b for a, b in zip(samples[path], samples[base], strict=True)]
    q1, median, q3 = statistics.quantiles(diffs, n=4)
    return _ms(median), _ms(q1), _ms(q3)


def _client_samples(server: LocalServer, router: Router, workdir: Path, n: int, params: dict) -> dict:
    """Run CLIENT in its own process, as a sandboxed agent would be, against the server and the gateway."""
    import opendgm.llm.gateway_client as gateway_client
    from opendgm.llm import Gateway

    for module in (gateway_client.__file__, __file__):
        shutil.copy(module, workdir)
    with Gateway(router, workdir / "gw.sock") as gateway:
        env = {
            gateway_client.SOCKET_ENV: str(gateway.socket_path),
            gateway_client.TOKEN_ENV: gateway.issue_token("bench", "agent"),
        }
        argv = [server.base_url, str(n), str(WARMUP), json.dumps(params), json.dumps(MESSAGES)]
        run = subprocess.run(
            [sys.executable, "-c", CLIENT, *argv], cwd=workdir, env=env, capture_output=True, text=True, check=True
        )
    return json.loads(run.stdout)


def main() -> None:
    from opendgm.llm import LocalServer, LocalServerConfig, Router

    parser = argparse.ArgumentParser(description="Latency the gateway path adds to a model call.")
    parser.add_argument("-n", type=int, default=150, help="timed rounds per comparison")
    parser.add_argument("--max-tokens", type=int, default=2)
    args = parser.parse_args()
    params = {"max_tokens": args.max_tokens, "temperature": 0, "seed": 1}
    load = os.getloadavg()[0]  # other work on the host widens the spread (and, if heavy, shifts the medians)

    with tempfile.TemporaryDirectory(prefix="odgm-bench-") as tmp:
        server = LocalServer(LocalServerConfig(log_path=Path(tmp) / "llama.log"))
        with server:
            router = Router({"agent": server.role()})
            client = _client_samples(server, router, Path(tmp), args.n, params)
            host = alternate(
                {
                    "direct": direct_request(server.base_url, MESSAGES, params),
                    "router": lambda: router.complete("agent", MESSAGES, **params).response,
                },
                args.n,
                WARMUP,
            )

    samples = client["samples"]
    added, q1, q3 = _added(samples, "gateway", "direct")
    routed = _added(host["samples"], "router", "direct")[0]
    direct, gated = (_ms(statistics.median(samples[name])) for name in ("direct", "gateway"))
    print(f"{args.n} rounds per comparison, max_tokens={args.max_tokens}, completion tokens {client['tokens']}")
    print(f"host: {os.cpu_count()} CPUs, load average {load:.1f} before the run")
    print(f"  direct   client process -> llama.cpp (HTTP, loopback)      median {direct:7.2f} ms")
    print(f"  gateway  client process -> socket -> Gateway -> Router     median {gated:7.2f} ms")
    print(f"added by the gateway path: {added:.2f} ms (median per round; quartiles {q1:.2f} .. {q3:.2f} ms)")
    print(
        f"  of which the Router ~{routed:.2f} ms (in-process, against direct), the socket hop ~{added - routed:.2f} ms"
    )
    verdict = "met" if added < GOAL_MS else "NOT met"
    print(f"goal: under {GOAL_MS:g} ms added -> {verdict}")


if __name__ == "__main__":
    main()
