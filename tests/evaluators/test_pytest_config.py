"""pyproject.toml's pytest tables are graded as the task has them; the agent's other changes stay."""

from __future__ import annotations

import tomllib

from opendgm.evaluators.grader.pytest_config import restore_pytest_tables

TASK = """[project]
name = "roman"
dependencies = []

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 100
"""


def test_the_agents_pytest_table_is_replaced_and_the_rest_kept() -> None:
    hostile = TASK.replace("dependencies = []", 'dependencies = ["attrs"]').replace(
        'testpaths = ["tests"]', 'testpaths = ["tests"]\naddopts = "-p forged_plugin --deselect tests"'
    )
    text, why = restore_pytest_tables(TASK, hostile + "\n[tool.pytest.other]\nx = 1\n")
    parsed = tomllib.loads(text or "")
    assert parsed["tool"]["pytest"] == {"ini_options": {"testpaths": ["tests"]}}
    assert parsed["project"]["dependencies"] == ["attrs"] and parsed["tool"]["ruff"] == {"line-length": 100}
    assert why is not None and "replaced by the task's" in why


def test_a_pytest_table_added_to_a_task_without_one_is_removed() -> None:
    text, why = restore_pytest_tables(None, '[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = "-p x"\n')
    assert text is not None and tomllib.loads(text) == {"project": {"name": "x"}} and why is not None


def test_forms_that_cannot_be_separated_put_the_whole_file_back() -> None:
    for hostile in (
        TASK + '\n[tool]\npytest.ini_options.addopts = "-p x"\n',
        TASK.replace("[tool.pytest.ini_options]\n", '[tool."pytest".ini_options]\naddopts = "-p x"\n'),
        TASK.replace(
            '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n',
            '[tool]\npytest = {ini_options = {testpaths = ["tests"], addopts = "-p x"}}\n',
        ),
        "[not toml",
    ):
        assert restore_pytest_tables(TASK, hostile) == (TASK, restore_pytest_tables(TASK, "[x")[1]), hostile


def test_a_deleted_pyproject_comes_back_and_untouched_pytest_config_changes_nothing() -> None:
    assert restore_pytest_tables(TASK, None)[0] == TASK
    changed = TASK.replace("dependencies = []", 'dependencies = ["attrs"]')
    assert restore_pytest_tables(TASK, changed) == (changed, None)
    assert restore_pytest_tables(None, None) == (None, None)
