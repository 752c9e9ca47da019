"""Opening an archive checks that every agent node's commit and tree are in agents.git."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opendgm.archive import Archive, ArchiveError


def _loose(archive_root: Path, name: str) -> Path:
    return archive_root / "agents.git" / "objects" / name[:2] / name[2:]


@pytest.mark.parametrize("lost", ["commit", "tree"])
def test_a_missing_code_object_is_reported_when_the_archive_opens(lost: str, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "agent.py").write_text("print('hi')\n")
    with Archive.create(tmp_path / "c", "damaged") as archive:
        node = archive.add_agent(code, operator="seed")
        (code / "agent.py").write_text("print('other')\n")
        archive.add_agent(code, parent=node.id, operator="import")
    name = node.commit if lost == "commit" else node.code_hash
    assert name is not None
    _loose(tmp_path / "c", name).unlink()  # what a bad disk or a careless `git gc` would do

    for readonly in (True, False):
        with pytest.raises(ArchiveError, match=rf"lacks the code objects of nodes {node.id} \({name}\)"):
            Archive.open(tmp_path / "c", readonly=readonly)
    with Archive.open(tmp_path / "c", readonly=True, check_code=False) as archive:  # a repair tool can look
        assert len(archive.nodes()) == 2
    shown = subprocess.run(
        [sys.executable, "-c", "from opendgm.cli import main; main()", "show", str(tmp_path / "c"), node.id],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert shown.returncode == 2 and "Traceback" not in shown.stderr
    assert f"lacks the code objects of nodes {node.id}" in shown.stderr.replace("\n", " ")
