"""`agents.git`: every agent node is one commit whose git parent is its archive parent's commit.

Git gives what DGM's patch chains lack: content addressing (the tree hash is the code hash),
materialising any node in one operation whatever its depth, and diffs between any two nodes.

Git runs under the host's rules, because the trees it handles were written by agents: no system, user or
repository configuration but ours, no attributes file, and `info/attributes` switches off every attribute
that would make a checkout or a diff differ from what was committed (eol conversion, filters, diff
drivers, export-ignore). The same rules make the scratch stores in which agent workspaces are captured
(`GitStore.scratch`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from opendgm.archive.errors import ArchiveError

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git knows it without storing it
NODE_REF_PREFIX = "refs/nodes/"
# The host's diff: fixed a/ b/ prefixes, never a driver, a textconv or rename guessing; to read (binary
# files named, not spelled out) and as a patch (full binary content, applicable byte for byte).
READ_DIFF = (
    "diff-tree", "-p", "-r", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames",
    "--src-prefix=a/", "--dst-prefix=b/",
)  # fmt: skip
PATCH_DIFF = (*READ_DIFF, "--binary", "--full-index")
_IDENTITY = {"NAME": "opendgm", "EMAIL": "opendgm@localhost"}
_CONFIG = {
    # objects and refs reach the disk before git returns (invariant 3: state durable before it is acted on)
    "core.fsync": "committed",
    "core.fsyncMethod": "fsync",
    "gc.auto": "0",  # nothing the archive wrote is ever pruned behind its back
    "core.logAllRefUpdates": "false",
}
_NO_ATTRIBUTES = "* -text -filter -ident -export-ignore -export-subst !eol !working-tree-encoding !diff\n"
# Command-line-strength settings for every git run: no attributes file outside the repository, no hooks.
_FORCED = {"core.attributesFile": os.devnull, "core.hooksPath": os.devnull}


@dataclass(frozen=True, slots=True)
class CommitInfo:
    tree: str
    parents: tuple[str, ...]


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env |= {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_ATTR_NOSYSTEM": "1", "LC_ALL": "C"}
    env["GIT_CONFIG_COUNT"] = str(len(_FORCED))
    for index, (key, value) in enumerate(_FORCED.items()):
        env |= {f"GIT_CONFIG_KEY_{index}": key, f"GIT_CONFIG_VALUE_{index}": value}
    for role in ("AUTHOR", "COMMITTER"):
        env |= {f"GIT_{role}_{key}": value for key, value in _IDENTITY.items()}
    return env


class GitStore:
    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self._env = _environment()

    @classmethod
    def init(cls, git_dir: Path) -> GitStore:
        store = cls(git_dir)
        store._run("init", "--quiet", "--bare", str(git_dir), git_dir_arg=False)
        for key, value in _CONFIG.items():
            store._run("config", key, value)
        (git_dir / "info").mkdir(exist_ok=True)
        (git_dir / "info" / "attributes").write_text(_NO_ATTRIBUTES)
        return store

    @classmethod
    @contextlib.contextmanager
    def scratch(cls, prefix: str = "opendgm-capture-") -> Iterator[GitStore]:
        """A fresh, empty object store under the same rules, removed afterwards (workspace captures)."""
        folder = Path(tempfile.mkdtemp(prefix=prefix))
        try:
            yield cls.init(folder / "objects.git")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def check(self) -> None:
        """Fail clearly unless `git_dir` is a bare repository."""
        try:
            bare = self._run("rev-parse", "--is-bare-repository")
        except ArchiveError as error:
            raise ArchiveError(f"{self.git_dir} is not a git repository: {error}") from None
        if bare != "true":
            raise ArchiveError(f"{self.git_dir} is not a bare git repository")

    def _run(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        git_dir_arg: bool = True,
    ) -> str:
        return self._run_bytes(*args, stdin=stdin, env=env, git_dir_arg=git_dir_arg).decode().strip()

    def _run_bytes(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        git_dir_arg: bool = True,
    ) -> bytes:
        command = ["git", *(["--git-dir", str(self.git_dir)] if git_dir_arg else []), *args]
        done = subprocess.run(command, input=stdin, capture_output=True, env={**self._env, **(env or {})}, check=False)
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            raise ArchiveError(f"git {args[0]} failed in {self.git_dir}: {message}")
        return done.stdout

    def git(self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None) -> bytes:
        """Run one git command on this store under the host's rules; its stdout (ArchiveError on failure)."""
        return self._run_bytes(*args, stdin=stdin, env=env)

    def spawn(self, *args: str, env: Mapping[str, str] | None = None, **popen: object) -> subprocess.Popen[bytes]:
        """Start one git command on this store under the host's rules, for streaming in or out."""
        command = ["git", "--git-dir", str(self.git_dir), *args]
        return subprocess.Popen(command, env={**self._env, **(env or {})}, **popen)  # type: ignore[call-overload]

    def missing(self, names: Iterable[str]) -> list[str]:
        """The object names (commits, trees, blobs) this store lacks, in one git process."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return []
        query = "".join(f"{name}\n" for name in wanted).encode()
        out = self._run_bytes("cat-file", "--batch-check=%(objectname)", stdin=query)
        answers = out.decode(errors="replace").splitlines()
        return [name for name, answer in zip(wanted, answers, strict=True) if answer.endswith(" missing")]

    def tree_objects(self, tree: str) -> list[str]:
        """The tree and every object under it (trees and blobs), in one git process."""
        listing = self._run_bytes("ls-tree", "-r", "-t", "-z", "--full-tree", tree).split(b"\0")
        return [tree] + [line.split(b"\t", 1)[0].split()[2].decode() for line in listing if line]

    def pack_tree(self, tree: str) -> bytes:
        """A git pack of the tree and everything under it: an agent's code as it travels to a cluster node."""
        return self._run_bytes(
            "pack-objects", "--stdout", "-q", stdin="".join(f"{n}\n" for n in self.tree_objects(tree)).encode()
        )

    def unpack(self, pack: bytes) -> None:
        """Add the objects of a pack made by `pack_tree` (objects already here are kept)."""
        self._run_bytes("unpack-objects", "-q", stdin=pack)

    def copy_objects(self, tree: str, into: GitStore) -> None:
        """Copy a tree and everything under it into another store (objects it already has are skipped)."""
        names = self.tree_objects(tree)
        pack = self.spawn("pack-objects", "--stdout", "-q", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        unpack = into.spawn("unpack-objects", "-q", stdin=pack.stdout, stderr=subprocess.PIPE)
        assert pack.stdin is not None and pack.stdout is not None
        pack.stdout.close()  # the unpacker holds it now
        pack.stdin.write("".join(f"{name}\n" for name in names).encode())
        pack.stdin.close()
        _, problem = unpack.communicate()
        if pack.wait() != 0 or unpack.returncode != 0:
            raise ArchiveError(f"could not copy tree {tree} into {into.git_dir}: {problem.decode(errors='replace')}")

    def commit_dir(self, code_dir: Path, parent: str | None, message: str) -> tuple[str, str]:
        """Commit every file under `code_dir` (ignore files and `.git` itself aside); return
        (commit, tree). Only objects are written: no ref, so a crash leaves nothing reachable."""
        if not code_dir.is_dir():
            raise ArchiveError(f"agent code directory {code_dir} does not exist")
        with tempfile.TemporaryDirectory(prefix="opendgm-index-") as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self._run("--work-tree", str(code_dir), "add", "--all", "--force", "--", ".", env=index)
            nested = [
                line.split("\t", 1)[1]
                for line in self._run("ls-files", "--stage", env=index).splitlines()
                if line.startswith("160000 ")
            ]
            if nested:
                raise ArchiveError(f"{code_dir} contains nested git repositories, which git cannot store: {nested}")
            tree = self._run("write-tree", env=index)
        return self.commit_tree(tree, parent, message), tree

    def commit_tree(self, tree: str, parent: str | None, message: str) -> str:
        """A commit of `tree` (already in the store) on `parent`; only objects are written, no ref."""
        return self._run("commit-tree", tree, *(["-p", parent] if parent else []), "-m", message)

    def materialize(self, commit: str, dest: Path) -> None:
        """Write the commit's files into `dest` (created; must be empty): one git call at any depth."""
        dest.mkdir(parents=True, exist_ok=True)
        if any(dest.iterdir()):
            raise ArchiveError(f"cannot materialise into {dest}: it is not empty")
        with tempfile.TemporaryDirectory(prefix="opendgm-index-") as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self._run("--work-tree", str(dest), "read-tree", "--reset", "-u", commit, env=index)

    def diff(self, old: str | None, new: str) -> str:
        """Unified diff from `old` (None: the empty tree) to `new`, for reading (undecodable bytes replaced)."""
        return self._run_bytes(*READ_DIFF, old or EMPTY_TREE, new).decode(errors="replace")

    def read_commits(self, commits: Iterable[str]) -> dict[str, CommitInfo | None]:
        """Tree and parents of each commit in one git process; None for an object that is missing."""
        wanted = list(dict.fromkeys(commits))
        if not wanted:
            return {}
        out = self._run_bytes("cat-file", "--batch", stdin="".join(f"{c}\n" for c in wanted).encode())
        found: dict[str, CommitInfo | None] = {}
        position = 0
        for name in wanted:
            end = out.index(b"\n", position)
            header = out[position:end].decode().split()
            position = end + 1
            if header[1] == "missing":
                found[name] = None
                continue
            size = int(header[2])
            body, position = out[position : position + size].decode(errors="replace"), position + size + 1
            if header[1] != "commit":
                found[name] = None
                continue
            lines = body.split("\n\n", 1)[0].splitlines()
            tree = next(line[5:] for line in lines if line.startswith("tree "))
            parents = tuple(line[7:] for line in lines if line.startswith("parent "))
            found[name] = CommitInfo(tree, parents)
        return found

    def node_refs(self) -> dict[str, str]:
        """node id -> commit for every `refs/nodes/*` ref."""
        out = self._run("for-each-ref", "--format=%(refname) %(objectname)", NODE_REF_PREFIX)
        refs = (line.split(" ") for line in out.splitlines())
        return {name.removeprefix(NODE_REF_PREFIX): sha for name, sha in refs}

    def update_node_refs(self, set_refs: Mapping[str, str], delete: Iterable[str] = ()) -> None:
        """Point `refs/nodes/<id>` at commits (and delete others) in one atomic git transaction.

        Refs are not fsynced one by one (10^4 fsyncs would dominate a bulk import): they are derived from
        the SQLite rows, and the writer restores any that a crash lost when it next opens the archive."""
        lines = [f"update {NODE_REF_PREFIX}{node} {sha}\n" for node, sha in set_refs.items()]
        lines += [f"delete {NODE_REF_PREFIX}{node}\n" for node in delete]
        if lines:
            self._run("-c", "core.fsync=objects", "update-ref", "--stdin", stdin="".join(lines).encode())
