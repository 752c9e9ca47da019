"""The trusted grading harness: what decides a grade, kept apart from everything an agent wrote.

- `hooks`: import-time hooks a patch adds (sitecustomize, .pth, conftest.py, stdlib-named modules) are
  dropped from it, with the reason recorded.
- `verdict`: a grade is decided from per-test outcomes against the expected tests, never from an exit code.
- `channel`: the harness's result reaches the host on a line keyed by a nonce the tests cannot know.
- `python`: Python tests (unittest, HumanEval's `check`) run by `sandbox/harness.py` outside the repository.
- `collect`: the expected unittest ids of hidden test files, read without running them.
- `canary`: a test that must fail, added to compiled languages' tests (and SWE-bench's), exposes a forged report.
- `pytest_config`: pyproject.toml's pytest tables graded as the task has them.
"""
