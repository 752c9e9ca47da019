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

from opendgm.archive import credit, summaries, trees
from opendgm.archive.archive import ARCHIVE_DB, Archive
from opendgm.archive.artifacts import GZIP_THRESHOLD, ArtifactStore
from opendgm.archive.best import ASYNC_POOL, best_agent, best_path, why_none
from opendgm.archive.cost_view import cache_line, cost, improvement_line, resolved_line
from opendgm.archive.costs import cost_report
from opendgm.archive.credit import Fitness
from opendgm.archive.errors import ArchiveError, NoSpace
from opendgm.archive.gitstore import GitStore
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
    ResultImport,
    ResultRecord,
    ResultStatus,
    Score,
    Status,
    TaskResult,
)
from opendgm.archive.overview import overview
from opendgm.archive.progress import Plan, clock, inert, printing
from opendgm.archive.schema import RETRY_INFRA_EVENT, SCHEMA_VERSION
from opendgm.archive.sentences import sentence
from opendgm.archive.summaries import Summaries, SummaryCache
from opendgm.archive.tables import SELF_MODIFICATION_LOG
from opendgm.archive.tree_import import ChunkReader, ImportedTree, import_tar
from opendgm.archive.trees import CodeTree

__all__ = [
    "ARCHIVE_DB",
    "ASYNC_POOL",
    "GZIP_THRESHOLD",
    "RESULT_STATUSES",
    "RETRY_INFRA_EVENT",
    "SCHEMA_VERSION",
    "SELF_MODIFICATION_LOG",
    "TRANSITIONS",
    "AgentImport",
    "Archive",
    "ArchiveError",
    "ArchiveLedger",
    "ArtifactStore",
    "ChunkReader",
    "CodeTree",
    "Edge",
    "EvaluatorKey",
    "Event",
    "Fitness",
    "GitStore",
    "ImportedTree",
    "NoSpace",
    "Node",
    "NodeKind",
    "NodeSummary",
    "Plan",
    "ResultImport",
    "ResultRecord",
    "ResultStatus",
    "Score",
    "Status",
    "Summaries",
    "SummaryCache",
    "TaskResult",
    "best_agent",
    "best_path",
    "cache_line",
    "clock",
    "cost",
    "cost_report",
    "credit",
    "import_tar",
    "improvement_line",
    "inert",
    "overview",
    "printing",
    "resolved_line",
    "sentence",
    "summaries",
    "trees",
    "why_none",
]
