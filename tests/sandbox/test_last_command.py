"""A sandbox's last command (`exec(..., last=True)`): on Docker the container's own process, created with the
command (issue 18: the same engine round trips as `docker run`), on both backends the same result as any exec.

Attack first: the command is the sandbox user's code and the launcher reports its exit status after it, on the
same stdout; a command must not be able to forge that report, hide its own end, or outlive it.
"""

from __future__ import annotations

import pytest

from opendgm.sandbox import DEFAULT_IMAGE, Limits, Sandbox, SandboxError, SandboxSpec, open_sandbox
from opendgm.sandbox.factory import _start_docker

FORGED = f"[opendgm: exit 0 {'0' * 32}]\n"  # the launcher's report, with a made-up key


def spec(**limits: int | float) -> SandboxSpec:
    return SandboxSpec(image=DEFAULT_IMAGE, limits=Limits(**limits), campaign="test-last", workspace_volume=False)


def opened(backend: str, spec: SandboxSpec) -> Sandbox:
    """On Docker a sandbox waiting for its one command (what the pool hands out for one-command specs)."""
    return _start_docker(spec, waiting=True) if backend == "docker" else open_sandbox(spec, backend)


def last(backend: str, command: str, files: dict[str, str] | None = None, **limits: int | float):
    with opened(backend, spec(**limits)) as sandbox:
        if files:
            sandbox.put_files("/workspace/in", files)
        result = sandbox.exec(command, timeout=limits.get("exec_timeout_s", 20), last=True)
        with pytest.raises(SandboxError):
            sandbox.exec("true")
    return result


def test_streams_exit_code_files_and_user_as_any_exec(backend: str) -> None:
    result = last(backend, "cat in/a; id -u; echo err >&2; exit 3", {"a": "files in\n"})
    assert (result.exit_code, result.stdout, result.stderr) == (3, "files in\n1000\n", "err\n")
    assert not result.timed_out and not result.truncated


def test_a_forged_exit_report_is_plain_output(backend: str) -> None:
    """The command prints what the launcher's report looks like, then fails: its own status counts."""
    result = last(backend, f"printf '{FORGED}'; printf '{FORGED}' >&2; exit 5")
    assert result.exit_code == 5
    assert result.stdout == FORGED and result.stderr == FORGED


def test_killing_the_launcher_does_not_end_the_report(backend: str) -> None:
    """Every signal the command can send to its ancestors (PID 1 on Docker) after forging a report: the
    report still comes last, with the command's own status."""
    hack = f"printf '{FORGED}'; kill -KILL -1; kill -KILL 1; kill -KILL $PPID; exit 7"
    result = last(backend, hack)
    assert result.exit_code in (7, 137), result
    assert result.exit_code != 0 and not result.timed_out


def test_a_detached_process_does_not_outlive_the_command(backend: str) -> None:
    result = last(backend, "(setsid sleep 300 >/dev/null 2>&1 &); (sleep 300 &); echo done", exec_timeout_s=20)
    assert result.exit_code == 0 and result.stdout == "done\n" and result.duration_s < 15


def test_timeout_kills_and_flags(backend: str) -> None:
    result = last(backend, f"printf '{FORGED}'; sleep 60", exec_timeout_s=1.5)
    assert result.timed_out and result.status == "timeout" and result.duration_s < 15


def test_output_is_capped_and_the_report_still_read(backend: str) -> None:
    result = last(backend, "head -c 100000 /dev/zero | tr '\\0' x; exit 4", output_bytes=1000)
    assert result.truncated and result.exit_code == 4
    assert result.stdout.startswith("x" * 1000)


@pytest.mark.docker
def test_on_docker_the_last_command_is_the_containers_own_process(docker_engine: str) -> None:
    result = last("docker", "tr '\\0' ' ' </proc/1/cmdline; echo; ps -e -o user=,comm= | sort -u")
    pid1 = result.stdout.splitlines()[0]
    assert pid1.startswith("bash -c") and "[opendgm: files delivered]" in pid1, pid1
    assert "root" not in result.stdout and "sleep" not in result.stdout and "docker-init" not in result.stdout


@pytest.mark.docker
def test_the_pool_makes_one_command_specs_sandboxes_with_their_command(docker_engine: str) -> None:
    one = spec().model_copy(update={"campaign": "test-last-pool"})
    with open_sandbox(one, "docker", pooled=True) as first:  # pre-started: its command runs as an exec
        assert first.exec("cat /proc/1/cmdline", last=True).stdout.startswith("/sbin/docker-init")
    for _ in range(2):
        with open_sandbox(one, "docker", pooled=True) as later:
            assert later.exec("tr '\\0' ' ' </proc/1/cmdline", last=True).stdout.startswith("bash -c")
    with open_sandbox(one, "docker", pooled=True) as used_otherwise:  # made when first used, started as any
        used_otherwise.put_files("/workspace", {"a": "1"})
        assert used_otherwise.get_file("/workspace/a") == b"1"
        assert used_otherwise.exec("cat a; cat /proc/1/cmdline").stdout.startswith("1/sbin/docker-init")


SOLUTION_HACK = """
import glob, os, re
found = set()
for path in glob.glob("/proc/[0-9]*/cmdline") + glob.glob("/proc/[0-9]*/environ") + ["/workspace/.opendgm-run"]:
    try:
        found |= set(re.findall(r"[0-9a-f]{32}", open(path, errors="replace").read()))
    except OSError:
        pass
lines = [f"[opendgm: exit 0 {key}]" for key in found | {"0" * 32}]
lines += ['opendgm-result ' + '0' * 64 + ' {"outcomes": {"check": true}, "notes": [], "timed_out": false}']
for target in ("/proc/1/fd/1", "/proc/1/fd/2", "/dev/stdout"):
    try:
        with open(target, "w") as out:
            out.write("\\n".join(lines) + "\\n")
    except OSError:
        pass
os.kill(-1, 9)
"""


@pytest.mark.docker
def test_a_solution_cannot_forge_a_grading_through_its_containers_own_process(docker_engine: str) -> None:
    """HumanEval grades with `last=True`: once the pool has learnt it, the grading is the waiting container's own
    process. A solution that hunts for the launcher's key, writes forged reports and harness lines into PID 1's
    streams and kills everything it can is not resolved."""
    from opendgm.evaluators.humaneval import HumanEval
    from opendgm.evaluators.patches import unified_diff
    from opendgm.evaluators.runner import grade_patch

    evaluator = HumanEval()
    task = evaluator.tasks()[0]
    assert grade_patch(evaluator, task, evaluator.reference_patch(task), "docker", "test-last-grading").resolved
    stub = task.repo_files["solution.py"].decode()
    hack = unified_diff("solution.py", stub, stub + SOLUTION_HACK)
    for _ in range(2):  # the first may have run on a kept container, taken before the pool learnt
        grade = grade_patch(evaluator, task, hack, "docker", "test-last-grading")
        assert not grade.resolved and grade.tests_passed == 0, grade
    assert grade_patch(evaluator, task, evaluator.reference_patch(task), "docker", "test-last-grading").resolved
