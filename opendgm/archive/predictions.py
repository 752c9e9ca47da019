"""SWE-bench predictions for one agent (`opendgm export DIR --swebench-predictions FILE [--node ID]`).

The official harness re-grades a predictions JSONL: one line per instance with `instance_id`,
`model_name_or_path` and `model_patch`. The patch is the diff the agent produced on that instance, as stored
with its result (the latest attempt when it ran several); an instance where it produced none gets an empty
patch, which the harness counts as unresolved, as opendgm did.
"""

from __future__ import annotations

import json
from typing import IO

from opendgm.archive.archive import Archive
from opendgm.archive.models import TaskResult

SWEBENCH = "swebench"


def write_predictions(archive: Archive, node_id: str, out: IO[str], evaluator: str = SWEBENCH) -> int:
    """Write the node's predictions to `out`; returns how many instances it wrote."""
    latest: dict[str, TaskResult] = {}
    for result in archive.results(node_id, evaluator):
        known = latest.get(result.task_id)
        if known is None or (result.attempt, result.id) > (known.attempt, known.id):
            latest[result.task_id] = result
    name = f"opendgm/{archive.campaign}/{node_id}"
    for task_id, result in sorted(latest.items()):
        patch = archive.artifacts.read_text(result.patch_path) if result.patch_path else ""
        out.write(json.dumps({"instance_id": task_id, "model_name_or_path": name, "model_patch": patch}) + "\n")
    return len(latest)
