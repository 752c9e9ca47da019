"""Bounded retries of infrastructure failures (issue 13): a (node, task) whose runs failed for an infrastructure

Invariant 9 (docs/invariants.md).
reason `MAX_INFRA_FAILURES` times is `infra_exhausted`. It is not run again, is no verdict on the agent, and is
shown in `status`, until `opendgm run --retry-infra` starts the counts afresh (a `retry_infra` event). So an
agent that provokes infrastructure failures cannot wedge a campaign, and a flaky service is not retried forever.

The counts are read from the event log (each failure is one `task_infrastructure_failure` event), so they
survive kills and resumes like everything else.
"""

from __future__ import annotations

from collections import Counter

from opendgm.archive import Archive
from opendgm.outcomes import INFRA_EVENT, MAX_INFRA_FAILURES

RETRY_INFRA = "retry_infra"


def failure_counts(archive: Archive, node_id: str | None = None) -> Counter[tuple[str, str]]:
    """Infrastructure failures per (node, task) since the last `--retry-infra` (of `node_id`, if given)."""
    latest = archive.latest_events(1, kind=RETRY_INFRA)
    since = latest[-1].id if latest else 0
    return Counter(
        (str(event.node_id), str(event.data.get("task")))
        for event in archive.events(since_id=since, node_id=node_id)
        if event.kind == INFRA_EVENT and event.data.get("task")
    )


def exhausted(archive: Archive, node_id: str) -> set[str]:
    """The node's tasks that are `infra_exhausted`: not run again until `--retry-infra`."""
    return {task for (_, task), n in failure_counts(archive, node_id).items() if n >= MAX_INFRA_FAILURES}


def exhausted_count(archive: Archive) -> int:
    """How many (node, task) pairs of the whole archive are `infra_exhausted` (for `status`)."""
    return sum(1 for n in failure_counts(archive).values() if n >= MAX_INFRA_FAILURES)


def retry_infra(archive: Archive) -> None:
    """`opendgm run --retry-infra`: every `infra_exhausted` task is due again."""
    archive.log_event(RETRY_INFRA, data={"exhausted": exhausted_count(archive)})
