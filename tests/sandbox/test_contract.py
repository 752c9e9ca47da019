"""The Sandbox contract, identical on both backends: exec, timeouts, output caps, files in and out."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from opendgm.sandbox import DEFAULT_IMAGE, Limits, SandboxError, SandboxSpec, open_sandbox


def spec(**limits: int | float) -> SandboxSpec:
    return SandboxSpec(image=DEFAULT_IMAGE, limits=Limits(**limits), campaign="test-contract")


def test_exec_separates_streams_and_exit_code(backend: str) -> None:
    with open_sandbox(spec(), backend) as sandbox:
        result = sandbox.exec("echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.timed_out and not result.truncated and result.status == "exit 3"


def test_exec_takes_argv_env_and_cwd(backend: str) -> None:
    with open_sandbox(spec(), backend) as sandbox:
        sandbox.put_files("/workspace/sub", {"marker": "m"})
        argv = ["sh", "-c", 'echo "$GREETING"; ls']
        result = sandbox.exec(argv, cwd="/workspace/sub", env={"GREETING": "hi"})
    assert result.ok and result.stdout == "hi\nmarker\n"


def test_runs_as_unprivileged_user(backend: str) -> None:
    with open_sandbox(spec(), backend) as sandbox:
        assert sandbox.exec("id -u").stdout.strip() == "1000"


def test_timeout_kills_and_flags(backend: str) -> None:
    with open_sandbox(spec(), backend) as sandbox:
        result = sandbox.exec("echo started; sleep 60", timeout=1.5)
        assert result.timed_out and result.status == "timeout"
        assert result.stdout == "started\n"
        assert 1.5 <= result.duration_s < 10
        assert sandbox.exec("echo again").stdout == "again\n"


def test_no_process_outlives_its_exec(backend: str) -> None:
    with open_sandbox(spec(), backend) as sandbox:
        sandbox.exec("sleep 300 & echo spawned")
        leftover = sandbox.exec("ps -eo comm= | grep -c '^sleep$' || true").stdout.strip()
    # Docker keeps its own `sleep` (the container's lifetime cap) as PID 1's child; nothing else.
    assert leftover == ("1" if backend == "docker" else "0")


def test_output_is_capped_and_flagged(backend: str) -> None:
    with open_sandbox(spec(output_bytes=1000), backend) as sandbox:
        result = sandbox.exec("head -c 50000 /dev/zero | tr '\\0' a; head -c 3000 /dev/zero | tr '\\0' b >&2")
    assert result.truncated and result.ok
    assert result.stdout.startswith("a" * 1000) and "49000 more bytes" in result.stdout
    assert result.stderr.startswith("b" * 1000) and "2000 more bytes" in result.stderr


def test_files_round_trip(backend: str, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "mod.py").write_text("print('hi')\n")
    (tree / "data.bin").write_bytes(bytes(range(256)) * 8)
    with open_sandbox(spec(), backend) as sandbox:
        sandbox.put_dir(tree, "/workspace/repo")
        edited = sandbox.exec("cd repo && python3 pkg/mod.py && echo more >> pkg/mod.py && touch new.txt")
        assert edited.ok and edited.stdout == "hi\n"
        out = sandbox.get_dir("/workspace/repo", tmp_path / "back")
        assert sandbox.get_file("/workspace/repo/data.bin") == bytes(range(256)) * 8
    assert (out / "pkg" / "mod.py").read_text() == "print('hi')\nmore\n"
    assert sorted(p.name for p in out.iterdir()) == ["data.bin", "new.txt", "pkg"]


def test_missing_path_and_closed_sandbox_are_clear_errors(backend: str) -> None:
    sandbox = open_sandbox(spec(), backend)
    with sandbox, pytest.raises(SandboxError, match="does not exist"):
        sandbox.get_file("/workspace/nope")
    with pytest.raises(SandboxError, match="closed"):
        sandbox.exec("true")
    sandbox.close()  # idempotent


def test_secret_like_variables_are_refused() -> None:
    with pytest.raises(ValidationError, match="OPENAI_API_KEY"):
        SandboxSpec(env={"OPENAI_API_KEY": "sk-x", "HARMLESS": "1"})


def test_local_backend_refuses_paths_outside_its_workspace(local_isolation: None) -> None:
    with open_sandbox(spec(), "local") as sandbox:
        with pytest.raises(SandboxError, match="outside"):
            sandbox.put_files("/etc", {"passwd": "x"})
        with pytest.raises(SandboxError, match="escapes"):
            sandbox.get_file("/workspace/../../etc/passwd")


def test_missing_image_says_how_to_build_it(docker_engine: str) -> None:
    with pytest.raises(SandboxError, match="opendgm sandbox build"):
        open_sandbox(SandboxSpec(image="opendgm-no-such-image:never"), "docker")
