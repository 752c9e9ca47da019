"""A Docker sandbox whose workspace is a plain tmpfs (grading's: cheaper than a volume) reads and runs like one
whose workspace is a volume: files in and out, programs run from it, links archived as links and never
followed, a link or a missing path at the top refused."""

from __future__ import annotations

import io
import tarfile

import pytest

from opendgm.sandbox import SandboxError, SandboxSpec, open_sandbox


def _members(archive: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: (f"-> {m.linkname}" if m.issym() else "dir" if m.isdir() else f"{m.size} B") for m in tar}


@pytest.mark.docker
def test_a_tmpfs_workspace_reads_and_runs_like_a_volume(docker_engine: str) -> None:
    seen = []
    for volume in (True, False):
        spec = SandboxSpec(image=docker_engine, campaign="test-tmpfs", workspace_volume=volume)
        with open_sandbox(spec, "docker") as sandbox:
            sandbox.put_files("/workspace/repo", {"a.txt": "a\n", "bin/run.sh": "#!/bin/sh\necho ran\n"})
            plant = "chmod +x repo/bin/run.sh && ln -s /etc/passwd repo/link && ln -s repo top && ./repo/bin/run.sh"
            ran = sandbox.exec(plant)
            assert (ran.exit_code, ran.stdout) == (0, "ran\n"), ran.stderr
            assert sandbox.get_file("/workspace/repo/a.txt") == b"a\n"
            members = _members(sandbox.get_archive("/workspace/repo"))
            assert members["repo/link"] == "-> /etc/passwd"
            assert _members(b"".join(sandbox.stream_archive("/workspace/repo"))) == members
            with pytest.raises(SandboxError, match="does not exist"):
                sandbox.get_file("/workspace/missing")
            with pytest.raises(SandboxError, match="link"):
                list(sandbox.stream_archive("/workspace/top"))
            mounts = sandbox.exec("grep ' /workspace ' /proc/mounts").stdout
            seen.append(members)
        assert ("tmpfs" in mounts) and ("noexec" not in mounts), mounts
    assert seen[0] == seen[1]
