"""Bounded retries of infrastructure failures (issue 13): a (node, task) whose runs failed for an infrastructure
reason `MAX_INFRA_FAILURES` times is `infra_exhausted`. It is not run again, is no verdict on the agent, and is
shown in `status`, until `opendgm run --retry-infra` starts the counts afresh (a `retry_infra` event). So an
agent that provokes infrastructure failures cannot wedge a campaign, and a flaky service is not retried forever.

The counts are read from the event log (each failure is one `task_infrastructure_failure` event), so they
survive kills and resumes like everything else; the archive keeps the exhausted pairs in a table beside it
(triggers, schema.py) so that the score queries leave them out of the agent's score.

Invariant 9 (infrastructure is never a verdict, docs/invariants.md).
"""

from __future__ import annotations

from opendgm.archive import RETRY_INFRA_EVENT as RETRY_INFRA
from opendgm.archive import Archive


def exhausted(archive: Archive, node_id: str) -> set[str]:
    """The node's tasks that are `infra_exhausted`: not run again until `--retry-infra`."""
    return {task for _, task in archive.infra_exhausted(node_id)}


def exhausted_count(archive: Archive) -> int:
    """How many (node, task) pairs of the whole archive are `infra_exhausted` (for `status`)."""
    return len(archive.infra_exhausted())


def retry_infra(archive: Archive) -> None:
    """`opendgm run --retry-infra`: every `infra_exhausted` task is due again."""
    archive.log_event(RETRY_INFRA, data={"exhausted": exhausted_count(archive)})
