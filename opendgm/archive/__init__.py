"""The archive: the durable state of one campaign (SQLite + a bare git repo + artifact files).

`Archive` is the API: `Archive.create(root, campaign)` makes a campaign directory, `Archive.open(root,
readonly=...)` opens one (one writer, many readers). Its methods, on the class and on the mixins it is built
from (`results.ResultsMixin`, `events.EventsMixin`), carry their own docstrings: `help(opendgm.archive.Archive)`
is the listing, and it cannot drift from the code. The records it returns are the frozen dataclasses of
`models` (node statuses and their allowed transitions: `models.TRANSITIONS`). Every write is committed and
fsynced before it returns (invariant 3: state durable before it is acted on); results are keyed by code
hash, task, evaluator version and attempt (invariant 5: results keyed by code hash), so identical code is
never evaluated twice. Tree views are in `graph`, meta-prompt credit in `credit`, the best agent in `best`,
the read-only commands in `cli`.
"""

from opendgm.archive.archive import Archive
from opendgm.archive.artifacts import GZIP_THRESHOLD, ArtifactStore
from opendgm.archive.errors import ArchiveError
from opendgm.archive.ledger import ArchiveLedger
from opendgm.archive.models import (
    RESULT_STATUSES,
    TRANSITIONS,
    AgentImport,
    Edge,
    EvaluatorKey,
    Event,
    Node,
    NodeKind,
    NodeSummary,
    ResultRecord,
    ResultStatus,
    Score,
    Status,
    TaskResult,
)
from opendgm.archive.schema import SCHEMA_VERSION

__all__ = [
    "GZIP_THRESHOLD",
    "RESULT_STATUSES",
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "AgentImport",
    "Archive",
    "ArchiveError",
    "ArchiveLedger",
    "ArtifactStore",
    "Edge",
    "EvaluatorKey",
    "Event",
    "Node",
    "NodeKind",
    "NodeSummary",
    "ResultRecord",
    "ResultStatus",
    "Score",
    "Status",
    "TaskResult",
]
