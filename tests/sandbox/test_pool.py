"""Pooled Docker sandboxes (real engine): each is started ahead of need, serves one caller, carries nothing
from the task before it, is removed after, and a pool keyed by spec never hands one spec's container to another."""

from __future__ import annotations

import time

import pytest
from docker.errors import NotFound

from opendgm.sandbox import SandboxError, SandboxSpec, open_sandbox
from opendgm.sandbox.docker_client import docker_client
from opendgm.sandbox.spec import Limits, Mount


def _gone(container_id: str, within_s: float = 30.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            docker_client().containers.get(container_id)
        except NotFound:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.docker
def test_a_pre_started_sandbox_carries_no_state_from_another_task(docker_engine: str) -> None:
    spec = SandboxSpec(image=docker_engine, campaign="test-pool", limits=Limits(memory_mb=256))
    first = open_sandbox(spec, "docker", pooled=True)
    with first:
        leave = "echo secret > /workspace/left && echo secret > /tmp/left && (setsid sleep 300 >/dev/null 2>&1 &)"
        assert first.exec(leave).exit_code == 0
        started_meanwhile = open_sandbox(spec, "docker", pooled=True)  # taken while the first still runs
    with started_meanwhile as second:
        assert second.container.id != first.container.id
        look = second.exec("ls -A /workspace /tmp; cat /workspace/left /tmp/left; pgrep -u 1000 -x sleep")
        assert "left" not in look.stdout and "secret" not in look.stdout, look.stdout
        assert look.exit_code != 0  # neither file exists, no sandbox-user `sleep` runs here
    with open_sandbox(spec, "docker", pooled=True) as third:  # a spare started while the second ran
        assert third.exec('test -z "$(ls -A /workspace)"').exit_code == 0
        assert third.container.id not in (first.container.id, second.container.id)
    assert _gone(first.container.id) and _gone(second.container.id) and _gone(third.container.id)


@pytest.mark.docker
def test_pools_are_keyed_by_spec_so_mounts_never_leak_between_specs(docker_engine: str, tmp_path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "only-for-a.txt").write_text("a\n")
    with_mount = SandboxSpec(
        image=docker_engine, campaign="test-pool", mounts=[Mount(host_path=tmp_path / "shared", sandbox_path="/data")]
    )
    without = SandboxSpec(image=docker_engine, campaign="test-pool")
    with open_sandbox(with_mount, "docker", pooled=True) as a:
        assert a.exec("cat /data/only-for-a.txt").stdout == "a\n"
    for _ in range(2):
        with open_sandbox(without, "docker", pooled=True) as b:
            assert b.exec("test -e /data").exit_code != 0


@pytest.mark.docker
def test_files_delivered_with_the_next_exec_never_follow_a_link_the_code_left(docker_engine: str) -> None:
    """Workspace files now reach the container through tar run as the sandbox user: a link planted where a
    folder of the delivery goes is replaced by that folder, so nothing lands where the link points."""
    with open_sandbox(SandboxSpec(image=docker_engine, campaign="test-pool"), "docker", pooled=True) as sandbox:
        plant = "mkdir -p /tmp/elsewhere /workspace/repo && ln -s /tmp/elsewhere /workspace/repo/tests"
        assert sandbox.exec(plant).exit_code == 0
        sandbox.put_files("/workspace/repo", {"tests/test_hidden.py": "assert True\n", "b.txt": "b\n"})
        look = sandbox.exec("ls -A /tmp/elsewhere; test ! -L /workspace/repo/tests && cat repo/tests/test_hidden.py")
        assert look.exit_code == 0 and look.stdout == "assert True\n", look.stdout + look.stderr
        assert sandbox.get_file("/workspace/repo/b.txt") == b"b\n"


def test_files_go_in_with_the_command_and_the_command_cannot_fake_or_hide_the_delivery(docker_engine: str) -> None:
    """The waiting files are extracted in the command's own exec, before it starts. A command printing the
    delivery's marker has it in its output like anything else; a delivery that fails is the sandbox's error and
    the command never runs; a failing command after a good delivery is the command's exit status."""
    with open_sandbox(SandboxSpec(image=docker_engine, campaign="test-pool"), "docker", pooled=True) as sandbox:
        sandbox.put_files("/workspace", {"a.txt": "a\n"})
        marker = "printf '[opendgm: files delivered]\\n'"
        faked = sandbox.exec(f"{marker}; cat a.txt; exit 3")
        assert (faked.exit_code, faked.stdout) == (3, "[opendgm: files delivered]\na\n"), faked
        assert sandbox.exec("rm a.txt && mkdir -p d && chmod 0500 d").exit_code == 0
        sandbox.put_files("/workspace", {"d/f.txt": "f\n"})
        with pytest.raises(SandboxError, match="cannot copy files into the sandbox"):
            sandbox.exec("touch ran")
        assert sandbox.exec("test ! -e ran").exit_code == 0


@pytest.mark.docker
def test_a_waiting_spare_carries_nothing_from_the_grading_before_it(docker_engine: str) -> None:
    """The graded path (each sandbox's one command is its container's own process): what a command leaves behind
    (files, a detached process that keeps writing) never reaches the spare that serves the next command."""
    spec = SandboxSpec(image=docker_engine, campaign="test-pool-waiting", limits=Limits(memory_mb=256))
    for _ in range(2):  # the pool learns that this spec's sandboxes run one command each
        with open_sandbox(spec, "docker", pooled=True) as sandbox:
            assert sandbox.exec("true", last=True).exit_code == 0
    leave = (
        "echo secret > /workspace/left; echo secret > /tmp/left; "
        "(setsid sh -c 'while :; do echo persist >> /tmp/spread 2>/dev/null; sleep 0.1; done' >/dev/null 2>&1 &); "
        "sleep 0.3"
    )
    look = "ls -A /workspace /tmp; cat /workspace/left /tmp/left /tmp/spread; pgrep -u 1000 -f '[p]ersist'"
    with open_sandbox(spec, "docker", pooled=True) as first:
        assert first.exec(leave, last=True).exit_code == 0
        with open_sandbox(spec, "docker", pooled=True) as second:  # a spare started while the first ran
            seen = second.exec(look, last=True)
    assert second.container.id != first.container.id
    assert "left" not in seen.stdout and "secret" not in seen.stdout and "persist" not in seen.stdout, seen.stdout
    assert seen.exit_code != 0, seen  # no file there, no such process
    assert _gone(first.container.id) and _gone(second.container.id)
