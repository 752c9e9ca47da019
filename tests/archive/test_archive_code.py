"""Agent nodes are git commits: exact round trips, diffs between any two nodes, content addressing."""

from __future__ import annotations

import subprocess
from itertools import pairwise
from pathlib import Path

import pytest

from opendgm.archive import Archive, ArchiveError
from tests.support.archive_helpers import Tree, as_read, read_tree, write_tree

BINARY = bytes(range(256)) * 4 + b"\x00\x00end"

ROOT: Tree = {
    "agent.py": "def forward(task):\n    return solve(task)\n",
    "tools/bash.py": "import subprocess\n\nTIMEOUT = 120\n",
    "run.sh": ("#!/bin/sh\nexec python3 agent.py\n", 0o755),
    "data.bin": BINARY,
    # Attributes that would rewrite bytes on checkout (eol) or drop files (export-ignore) must not apply.
    ".gitattributes": "* text eol=crlf\n*.txt export-ignore\n",
    "notes.txt": "line one\r\nline two\n",
    # The agent's code is the whole directory: ignore rules do not apply either.
    ".gitignore": "*.log\n",
    "debug.log": "kept\n",
}


def _children() -> list[Tree]:
    """A chain of edits: modify, add, delete, binary, executable bit on and off."""
    first = dict(ROOT) | {"agent.py": "def forward(task):\n    plan = think(task)\n    return solve(task, plan)\n"}
    first["tools/edit.py"] = "def edit(path, old, new):\n    ...\n"
    del first["data.bin"]
    second = dict(first) | {"run.sh": "#!/bin/sh\nexec python3 agent.py\n", "tools/bin.dat": BINARY[::-1]}
    third = dict(second) | {"tools/check.sh": ("#!/bin/sh\ntrue\n", 0o755)}
    del third["notes.txt"]
    fourth = dict(third) | {"tools/bash.py": "import subprocess\n\nTIMEOUT = 300\n"}
    return [first, second, third, fourth]


@pytest.fixture
def chain(archive: Archive, tmp_path: Path) -> list[tuple[str, Tree]]:
    """(node id, files) from the root down to the deepest node."""
    code = tmp_path / "code"
    node = archive.add_agent(write_tree(code, ROOT), operator="seed", message="seed agent")
    built = [(node.id, ROOT)]
    for depth, files in enumerate(_children(), start=1):
        node = archive.add_agent(write_tree(code, files), node.id, operator="self_improve", message=f"edit {depth}")
        built.append((node.id, files))
    return built


def test_every_node_materialises_exactly_what_was_added(archive: Archive, chain, tmp_path: Path) -> None:
    for node_id, files in reversed(chain):  # the deepest first
        dest = archive.materialize(node_id, tmp_path / "out" / node_id)
        assert read_tree(dest) == as_read(files), node_id


def test_git_parents_follow_archive_parents(archive: Archive, chain) -> None:
    git = ["git", "--git-dir", str(archive.root / "agents.git")]
    for (parent_id, _), (child_id, _) in pairwise(chain):
        parent, child = archive.node(parent_id), archive.node(child_id)
        assert child.parent_id == parent_id
        first_parent = subprocess.run([*git, "rev-parse", f"{child.commit}^"], capture_output=True, text=True)
        assert first_parent.stdout.strip() == parent.commit
        tree = subprocess.run([*git, "rev-parse", f"{child.commit}^{{tree}}"], capture_output=True, text=True)
        assert tree.stdout.strip() == child.code_hash
    root = archive.node(chain[0][0])
    orphan = subprocess.run([*git, "rev-parse", "--verify", "--quiet", f"{root.commit}^"], capture_output=True)
    assert orphan.returncode != 0  # the root commit has no parent
    refs = subprocess.run([*git, "for-each-ref", "--format=%(refname) %(objectname)"], capture_output=True, text=True)
    assert refs.stdout.splitlines() == [f"refs/nodes/{node_id} {archive.node(node_id).commit}" for node_id, _ in chain]


def test_diff_to_parent_shows_each_kind_of_change(archive: Archive, chain) -> None:
    ids = [node_id for node_id, _ in chain]
    first = archive.diff_to_parent(ids[1])
    assert "+    plan = think(task)" in first and "-    return solve(task)" in first
    assert "diff --git a/tools/edit.py b/tools/edit.py\nnew file mode 100644" in first
    assert "diff --git a/data.bin b/data.bin\ndeleted file mode 100644" in first
    second = archive.diff_to_parent(ids[2])
    assert "diff --git a/run.sh b/run.sh\nold mode 100755\nnew mode 100644" in second
    assert "Binary files /dev/null and b/tools/bin.dat differ" in second
    root = archive.diff_to_parent(ids[0])
    assert "new file mode 100755" in root and "+exec python3 agent.py" in root


def test_diff_between_distant_nodes_applies_to_the_older_one(archive: Archive, chain, tmp_path: Path) -> None:
    """Any two nodes (here depth 2 and 4, text-only difference): `git apply` of the diff turns one into
    the other, so the diff is exactly their difference."""
    (old_id, _), (new_id, new_files) = chain[2], chain[4]
    patch = archive.diff(old_id, new_id)
    assert patch.count("diff --git") == 3  # check.sh added, notes.txt deleted, bash.py changed
    work = archive.materialize(old_id, tmp_path / "work")
    subprocess.run(["git", "apply", "-"], cwd=work, input=patch, text=True, check=True)
    assert read_tree(work) == as_read(new_files)
    assert archive.diff(new_id, new_id) == ""


def test_identical_code_has_the_same_code_hash(archive: Archive, chain, tmp_path: Path) -> None:
    root_id, root_files = chain[0]
    deepest_id = chain[-1][0]
    twin = archive.add_agent(write_tree(tmp_path / "twin", root_files), deepest_id, operator="revert")
    assert twin.code_hash == archive.node(root_id).code_hash
    assert twin.commit != archive.node(root_id).commit  # a different commit: it has a parent
    assert archive.node(deepest_id).code_hash != twin.code_hash
    (tmp_path / "twin" / ".git").mkdir()  # the agent's own repository is not part of its code
    (tmp_path / "twin" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert archive.add_agent(tmp_path / "twin", root_id).code_hash == twin.code_hash


def test_proposed_agent_gets_its_code_later(archive: Archive, chain, tmp_path: Path) -> None:
    parent_id, files = chain[-1]
    child = archive.propose("agent", parent_id, operator="self_improve", meta={"entry": "task-7"})
    assert (child.status, child.commit, child.code_hash) == ("proposed", None, None)
    with pytest.raises(ArchiveError, match="no code to materialise"):
        archive.materialize(child.id, tmp_path / "nothing")
    archive.set_status(child.id, "modifying")
    built = archive.attach_code(child.id, write_tree(tmp_path / "child", files | {"new.py": "x = 1\n"}), "add new.py")
    assert built.status == "built" and built.meta == {"entry": "task-7"}
    assert archive.diff_to_parent(child.id).count("diff --git") == 1
    with pytest.raises(ArchiveError, match="not an agent awaiting its code"):
        archive.attach_code(child.id, tmp_path / "child")


def test_bad_code_input_is_a_clear_error(archive: Archive, chain, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="does not exist"):
        archive.add_agent(tmp_path / "missing")
    nested = write_tree(tmp_path / "nested", {"a.py": "1\n", "vendor/lib/x.py": "2\n"})
    subprocess.run(["git", "init", "-q", str(nested / "vendor")], check=True)
    subprocess.run(["git", "-C", str(nested / "vendor"), "add", "."], check=True)
    subprocess.run(
        ["git", "-C", str(nested / "vendor"), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
        check=True,
    )
    with pytest.raises(ArchiveError, match="nested git repositories"):
        archive.add_agent(nested)
    occupied = write_tree(tmp_path / "occupied", {"keep.txt": "mine\n"})
    with pytest.raises(ArchiveError, match="not empty"):
        archive.materialize(chain[0][0], occupied)
    assert read_tree(occupied) == as_read({"keep.txt": "mine\n"})
    prompt = archive.add_node("prompt", "You are a careful engineer.")
    with pytest.raises(ArchiveError, match="cannot have the prompt node"):
        archive.add_agent(tmp_path / "code", prompt.id)
    with pytest.raises(ArchiveError, match="no node 'n9999'"):
        archive.add_agent(tmp_path / "code", "n9999")
    with pytest.raises(ArchiveError, match="cannot diff agent node"):
        archive.diff(chain[0][0], prompt.id)


def test_text_nodes_keep_content_in_sqlite_and_diff_as_text(archive: Archive) -> None:
    first = archive.add_node("prompt", "Fix the bug.\nBe brief.\n", operator="seed")
    second = archive.add_node("prompt", "Fix the bug.\nExplain first.\n", first.id, operator="pe2")
    same = archive.add_node("prompt", "Fix the bug.\nBe brief.\n", second.id, operator="pe2")
    assert archive.node(second.id).content == "Fix the bug.\nExplain first.\n"
    assert same.code_hash == first.code_hash != second.code_hash
    change = archive.diff_to_parent(second.id)
    assert f"--- a/{first.id}" in change and "-Be brief.\n" in change and "+Explain first.\n" in change
    rubric = archive.propose("rubric", operator="mpo")
    assert archive.attach_content(rubric.id, '{"criteria": ["tests pass"]}').status == "built"
    with pytest.raises(ArchiveError, match="use add_agent"):
        archive.add_node("agent", "print(1)")
