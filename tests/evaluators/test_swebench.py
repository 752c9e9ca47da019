"""The swebench evaluator grades through the swebench harness: a miniature instance, real Docker, no network.

The instance (tests/fixtures/swebench_mini) is a small git repository with a real bug, written as a
swebench 5.x dataset row whose image is built locally FROM opendgm-runtime:latest. Its tests run with
`python3 -m unittest -v` (the image has no pytest), whose output is the format the harness's
`parse_log_django` reads (Django's own test runner is unittest's).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker.errors import ImageNotFound

from opendgm.agents.contract import REPO_DIR
from opendgm.archive import Archive
from opendgm.evaluators.dgm_subsets import dgm_subsets
from opendgm.evaluators.humaneval import unified_diff
from opendgm.evaluators.runner import grade_patch
from opendgm.evaluators.swebench import SWEBench
from opendgm.sandbox import SandboxSpec, open_sandbox
from opendgm.sandbox.docker_client import docker_client
from opendgm.sandbox.images import LABEL_IMAGE

FIXTURE = Path(__file__).parents[1] / "fixtures" / "swebench_mini"
INSTANCE_ID = "opendgm__roman-1"
IMAGE = "opendgm-test/sweb.eval.x86_64.opendgm_1776_roman-1:latest"
F2P = ["test_subtractive (tests.test_roman.ToRomanTest.test_subtractive)"]
P2P = [
    "test_additive (tests.test_roman.ToRomanTest.test_additive)",
    "test_out_of_range (tests.test_roman.ToRomanTest.test_out_of_range)",
]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "PATH": "/usr/bin:/bin",
}
# The shape of a swebench 5.x eval script: reset the test files, apply the test patch, run the tests
# between the harness's markers, reset again.
EVAL_SCRIPT = """\
#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout {base} tests/test_roman.py
git apply -v - <<'EOF_114329324912'
{test_patch}
EOF_114329324912
: '>>>>> Start Test Output'
python3 -m unittest -v tests.test_roman
: '>>>>> End Test Output'
git checkout {base} tests/test_roman.py
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True).stdout


def diff_of(repo: Path, changed: Path) -> str:
    """The git diff that turns the repository's tree into one with `changed`'s files copied over it."""
    shutil.copytree(changed, repo, dirs_exist_ok=True)
    patch = git(repo, "diff")
    git(repo, "checkout", "--", ".")
    return patch


def instance_row(repo: Path) -> dict:
    """The miniature instance as a swebench 5.x dataset row, from a fresh git repository of base/."""
    shutil.copytree(FIXTURE / "base", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    test_patch = diff_of(repo, FIXTURE / "test_patch")
    return {
        "repo": "opendgm/roman",
        "instance_id": INSTANCE_ID,
        "base_commit": base,
        "patch": diff_of(repo, FIXTURE / "gold"),
        "test_patch": test_patch,
        "problem_statement": "to_roman(4) returns 'IIII'; it should use subtractive notation ('IV').",
        "hints_text": "",
        "created_at": "2026-01-01T00:00:00Z",
        "version": "0.1",
        "environment_setup_commit": base,
        "FAIL_TO_PASS": json.dumps(F2P),
        "PASS_TO_PASS": json.dumps(P2P),
        "image": IMAGE,
        "eval_script": EVAL_SCRIPT.format(base=base, test_patch=test_patch.rstrip("\n")),
        "log_parser": "parse_log_django",
        "eval_type": "pass_and_fail",
    }


def build_image(repo: Path) -> None:
    """The instance image: the runtime image with the repository at /testbed (owned by root), no network."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = b"FROM opendgm-runtime:latest\nCOPY testbed /testbed\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(repo, arcname="testbed")
    context.seek(0)
    docker_client().images.build(
        fileobj=context, custom_context=True, tag=IMAGE, labels={LABEL_IMAGE: "1"}, network_mode="none", rm=True
    )


@pytest.fixture(scope="module")
def dataset(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A dataset file holding the miniature instance, whose image exists for the module's tests."""
    folder = tmp_path_factory.mktemp("swebench-mini")
    row = instance_row(folder / "testbed")
    build_image(folder / "testbed")
    path = folder / "dataset.jsonl"
    path.write_text(json.dumps(row) + "\n")
    yield path
    with contextlib.suppress(ImageNotFound):  # removed already, by another run of these tests
        docker_client().images.remove(IMAGE, force=True)


def test_gold_patch_resolves_and_empty_or_wrong_patches_do_not(dataset: Path) -> None:
    evaluator = SWEBench(dataset)
    (task,) = evaluator.select("all")
    assert task.invalid is None and task.image == IMAGE

    gold = grade_patch(evaluator, task, evaluator.reference_patch(task), "docker", "test-swebench")
    assert gold.status == "resolved", gold.output
    assert (gold.tests_passed, gold.tests_failed) == (3, 0)

    empty = grade_patch(evaluator, task, "", "docker", "test-swebench")
    assert empty.status == "unresolved", empty.output
    assert (empty.tests_passed, empty.tests_failed) == (2, 1)  # the FAIL_TO_PASS test still fails

    # Fixes the FAIL_TO_PASS test but breaks a PASS_TO_PASS one: not resolved.
    fixed = (FIXTURE / "gold" / "roman.py").read_text()
    wrong = unified_diff(
        "roman.py", (FIXTURE / "base" / "roman.py").read_text(), fixed.replace("0 < number <", "0 <= number <")
    )
    graded = grade_patch(evaluator, task, wrong, "docker", "test-swebench")
    assert graded.status == "unresolved", graded.output
    assert (graded.tests_passed, graded.tests_failed) == (2, 1)
    assert '"test_out_of_range' in graded.output.split("PASS_TO_PASS")[-1]


def test_the_agent_gets_the_testbed_at_workspace_repo_without_the_hidden_tests(dataset: Path) -> None:
    evaluator = SWEBench(dataset)
    (task,) = evaluator.select("all")
    with open_sandbox(SandboxSpec(image=task.image, campaign="test-swebench"), "docker") as sandbox:
        start = evaluator.prepare(task, sandbox)
        tests = sandbox.get_file(f"{REPO_DIR}/tests/test_roman.py").decode()
        history = sandbox.exec(f"cd {REPO_DIR} && git log --format=%H && git status --porcelain").stdout.split()
        edit = sandbox.exec(f"cd {REPO_DIR} && echo '# edited' >> roman.py")
    assert "test_additive" in tests and "test_subtractive" not in tests
    base = json.loads(dataset.read_text())["base_commit"]
    assert history == [start, base]  # the snapshot sits on the instance's history, and nothing is left over
    assert edit.ok, edit.stderr  # the copy is writable by the sandbox user, unlike root's /testbed


def test_a_missing_image_makes_the_task_invalid_with_directions(dataset: Path, tmp_path: Path) -> None:
    row = json.loads(dataset.read_text()) | {"image": "opendgm-test/absent-image:latest"}
    (tmp_path / "d.json").write_text(json.dumps([row]))
    (task,) = SWEBench(tmp_path / "d.json").tasks()
    assert task.invalid is not None
    assert "opendgm-test/absent-image:latest is not present" in task.invalid and "docker pull" in task.invalid


def test_rows_without_the_5x_fields_are_invalid(tmp_path: Path) -> None:
    row = {"instance_id": "a__b-1", "problem_statement": "x", "patch": "", "FAIL_TO_PASS": "[]", "PASS_TO_PASS": "[]"}
    (tmp_path / "d.jsonl").write_text(json.dumps(row) + "\n")
    (task,) = SWEBench(tmp_path / "d.jsonl").tasks()
    assert task.invalid is not None and "image, eval_script, log_parser, eval_type" in task.invalid


def test_dgm_stages_are_named_only_when_the_dataset_holds_them() -> None:
    small = dgm_subsets("swe_bench", set())
    assert small == {}
    ids = json.loads(
        (Path(__file__).parents[2] / "opendgm/evaluators/data/dgm_subsets/swe_bench/small.json").read_text()
    )
    assert len(ids) == 10 and "django__django-10973" in ids
    assert dgm_subsets("swe_bench", set(ids)) == {"small": ids}


@pytest.mark.model
def test_a_campaign_runs_its_first_stage_on_swebench(dataset: Path, first_stage_campaign) -> None:
    root = first_stage_campaign("swebench", {"dataset": str(dataset), "agent_timeout_s": 180})
    with Archive.open(root, readonly=True) as archive:
        (seed,) = archive.nodes(kind="agent")
        (result,) = archive.results(seed.id)
        assert result.task_id == INSTANCE_ID and result.trajectory_path, result
        assert archive.cost(seed.id).calls > 0 and archive.node(seed.id).status == "evaluated"
