"""Bad input as a user meets it, through the `opendgm` command: one clear line on stderr, the right exit
status, no traceback; a bad task is an `invalid_task` result while the others run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from opendgm.archive import Archive
from tests.support.cli_batch import run_commands
from tests.support.llm_fakes import FakeProvider, Reply, completion

EXAMPLES = Path(__file__).parents[1] / "examples" / "repo-tasks"
ENV = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}


def opendgm(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "opendgm.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=ENV)


def one_line_error(done: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The single `error:` line on stderr, after checking the exit status and that no traceback was shown."""
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == status, output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    return lines[0]


BAD_SUBSETS = [
    ("small = [\n", "cannot be read as TOML"),
    ('small = "fix-median"\n', "list of task ids"),
    (b"\xff\xfe", "TOML"),
]


@pytest.fixture(scope="module")
def verified(tmp_path_factory: pytest.TempPathFactory) -> dict[object, subprocess.CompletedProcess[str]]:
    """`evaluators verify` on each mistake below, the command lines run in turn by one `opendgm` process; keyed by
    the mistaken option, or by the content of the bad subsets file."""
    commands: dict[object, tuple[object, ...]] = {
        "agent_timeout=5": ("evaluators", "verify", "humaneval", "-o", "agent_timeout=5"),
        "smal": ("evaluators", "verify", "humaneval", "--subset", "smal"),
    }
    for content, _ in BAD_SUBSETS:
        tasks = tmp_path_factory.mktemp("bad-subsets") / "tasks"
        shutil.copytree(EXAMPLES / "fix-median", tasks / "fix-median")
        (tasks / "subsets.toml").write_bytes(content if isinstance(content, bytes) else content.encode())
        commands[content] = ("evaluators", "verify", "repo-tasks", "-o", f"path={tasks}")
    return dict(zip(commands, run_commands(commands.values(), env=ENV), strict=True))


def test_an_unknown_evaluator_option_names_the_declared_ones(
    verified: dict[object, subprocess.CompletedProcess[str]],
) -> None:
    line = one_line_error(verified["agent_timeout=5"])
    assert "agent_timeout" in line and "agent_timeout_s" in line and "grading_timeout_s" in line


def test_a_mistyped_subset_lists_the_subsets(verified: dict[object, subprocess.CompletedProcess[str]]) -> None:
    line = one_line_error(verified["smal"])
    assert "'smal'" in line and "small" in line


@pytest.mark.parametrize(("content", "why"), BAD_SUBSETS)
def test_a_bad_subsets_file_is_named(
    content: str | bytes, why: str, verified: dict[object, subprocess.CompletedProcess[str]]
) -> None:
    line = one_line_error(verified[content])
    assert "subsets.toml" in line and why in line


def test_a_non_utf8_task_file_is_an_invalid_task_and_the_others_run(
    local_isolation: None, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    tasks = tmp_path / "tasks"
    shutil.copytree(EXAMPLES / "fix-median", tasks / "fix-median")
    (tasks / "latin").mkdir()
    (tasks / "latin" / "task.toml").write_bytes("statement = 'café'\ntest_command = 'true'\n".encode("latin-1"))
    fake_provider.default = Reply(body=completion("Done.\n```bash\nsubmit\n```"))
    models = tmp_path / "models.yaml"
    models.write_text(
        f"roles:\n  agent: {{model: openai/fake, api_base: '{fake_provider.base_url}',"
        " price: {prompt: 1, completion: 1}}\n"
    )
    done = opendgm(
        "evaluate", "seed", "-e", "repo-tasks", "-o", f"path={tasks}", "--subset", "all", "--backend", "local",
        "--models", models, "--campaign", tmp_path / "c", "--workers", "1",
    )  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert "latin: invalid_task" in done.stdout and "not UTF-8" in done.stdout, done.stdout
    with Archive.open(tmp_path / "c", readonly=True) as archive:
        (node,) = archive.nodes(kind="agent")
        statuses = {result.task_id: result.status for result in archive.results(node.id)}
    assert statuses["latin"] == "invalid_task" and statuses["fix-median"] != "invalid_task", statuses


def small_archive(root: Path, nodes: int = 30) -> None:
    """A real archive with enough rows to span several database pages."""
    with Archive.create(root, "bad-input") as archive:
        parent = None
        for index in range(nodes):
            code = root.parent / "code"
            code.mkdir(exist_ok=True)
            (code / "agent.py").write_text(f"print({index})\n" * 50)
            parent = archive.add_agent(
                code, parent, operator="seed" if parent is None else "edit", message="x" * 200
            ).id
            archive.log_event("note", parent, {"text": "y" * 500})


def corrupt_table(root: Path, table: str) -> None:
    """Overwrite the root page of `table` in archive.sqlite with garbage, as a bad disk block would."""
    db = root / "archive.sqlite"
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (page,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    with db.open("r+b") as handle:
        handle.seek((page - 1) * page_size)
        handle.write(b"\xa5" * page_size)


def test_a_corrupted_archive_page_points_at_doctor(tmp_path: Path) -> None:
    small_archive(tmp_path / "c")
    corrupt_table(tmp_path / "c", "nodes")
    line = one_line_error(opendgm("tree", tmp_path / "c"))
    assert "archive.sqlite" in line and f"opendgm doctor {tmp_path / 'c'}" in line


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MB tmpfs of our own, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> None:
    """Write zeros until the filesystem refuses."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError, match="No space left"):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def test_a_full_disk_is_one_line_and_no_half_made_archive(small_disk: Path) -> None:
    with Archive.create(small_disk / "c", "full"):
        pass
    fill(small_disk)
    evaluate = ("evaluate", "seed", "--backend", "local", "--subset", "HumanEval_0", "--campaign")
    line = one_line_error(opendgm(*evaluate, small_disk / "c"), status=4)
    assert "no space left on the device" in line and str(small_disk / "c") in line
    line = one_line_error(opendgm(*evaluate, small_disk / "new"), status=4)
    assert "no space left on the device" in line
    assert sorted(p.name for p in small_disk.iterdir()) == ["c", "filler"], "nothing half-made is left behind"


RACER = """
import os, sys, time
from pathlib import Path
from opendgm.archive import archive as module

gate, rename = Path(sys.argv[2]), os.rename

def rename_together(src, dst):  # both processes have built their archive before either moves it into place
    (gate / str(os.getpid())).touch()
    while len(list(gate.iterdir())) < 2:
        time.sleep(0.01)
    time.sleep(float(sys.argv[3]))
    rename(src, dst)

module.os.rename = rename_together
try:
    with module.Archive.create(Path(sys.argv[1]), "race"):
        time.sleep(3)
    print("created")
except module.ArchiveError as error:
    print(f"error: {error}")
"""


def test_two_processes_creating_one_campaign_one_gets_the_lock_message(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / "c"), str(gate), delay],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for delay in ("0", "1")
    ]
    outputs = [racer.communicate(timeout=60) for racer in racers]
    first, second = (out.strip() for out, _ in outputs)
    assert "Traceback" not in outputs[1][1] and first == "created", outputs
    assert second.startswith("error:") and "already open for writing" in second, outputs
    assert not [p for p in tmp_path.iterdir() if ".creating-" in p.name], "no staging folder is left"
