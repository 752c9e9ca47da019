"""Hole 3: the diff that is graded must not depend on the agent's own git (config, attributes, drivers).

Each hostile agent adds a test file that exits 0 at import (so a test run that loads it "passes") and
then tries to hide it from the protected-files filter. Graded under the host's rules, nothing resolves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opendgm.evaluators.repo_tasks import RepoTasks
from opendgm.evaluators.runner import TaskRunner
from tests.support.hostile import hostile_agent

EXAMPLES = Path(__file__).parents[2] / "examples" / "repo-tasks"
HACK = """
(repo / "tests").mkdir(exist_ok=True)
(repo / "tests" / "test_000_exit.py").write_text("import os\\nos._exit(0)\\n")
"""
# The agent's git writes its diff headers with other prefixes (c/ and i/ for a cached diff): a filter
# looking for a/ b/ sees no file.
PREFIXES = (
    HACK
    + """
subprocess.run(["git", "config", "diff.mnemonicPrefix", "true"], cwd=repo, check=True)
"""
)
# .gitattributes routes every path through a diff driver of the agent's that prints what it likes.
DRIVER = r"""#!/bin/sh
path="$1"; new="$5"
echo "diff --git x/$path y/$path"
echo "new file mode 100644"
echo "--- /dev/null"
echo "+++ y/$path"
echo "@@ -0,0 +1,$(wc -l < "$new") @@"
sed 's/^/+/' "$new"
"""
ATTRIBUTES = (
    HACK
    + f"""
driver = repo.parent / "steer.sh"
driver.write_text({DRIVER!r})
driver.chmod(0o755)
(repo / ".gitattributes").write_text("* diff=steer\\n")
subprocess.run(["git", "config", "diff.steer.command", str(driver)], cwd=repo, check=True)
"""
)


@pytest.mark.parametrize("trick", [PREFIXES, ATTRIBUTES], ids=["config-prefixes", "attributes-driver"])
def test_the_agents_git_cannot_hide_an_added_test_file(trick: str, backend: str, scratch: Path) -> None:
    evaluator = RepoTasks(EXAMPLES)
    (task,) = evaluator.select("fix-median")
    agent = hostile_agent(scratch / "agent", trick)
    outcome = TaskRunner(evaluator, agent, None, node="attacker", backend=backend).run(task)
    assert "tests/test_000_exit.py" in outcome.patch, (outcome.status, outcome.detail, outcome.patch[:500])
    assert "diff --git a/tests/test_000_exit.py b/tests/test_000_exit.py" in outcome.patch
    assert outcome.status == "unresolved", (outcome.status, outcome.detail, outcome.grading_log[-800:])
