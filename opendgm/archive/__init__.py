"""The archive: the durable state of one campaign (SQLite + a bare git repo + artifact files).

API (all methods are thread-safe; writes are committed, fsynced, before they return)

Opening
    Archive.create(root, campaign: str) -> Archive            new dir (absent or empty), opened for writing
    Archive.open(root, *, readonly=False, check_code=True) -> Archive
                                                              one writer (flock on root/.writer.lock);
                                                              readers never block it. ArchiveError when the
                                                              dir is missing/corrupt/newer/locked, or (unless
                                                              check_code=False) a node's commit/tree is missing.
    Archive.open_or_create(root, campaign: str) -> Archive     open for writing, created first if it holds none
    Archive.exists(root) -> bool                              whether root holds an archive (its database file)
    archive.close(); `with Archive.open(...) as archive:`
    archive.root, archive.campaign, archive.readonly, archive.meta() -> dict[str, str]
    archive.snapshot()     context: every read inside sees one consistent state
    archive.transaction()  context: writes inside commit together (one fsync), all or nothing

Nodes (ids are "n0001", "n0002", ...; kinds agent | prompt | meta_prompt | rubric)
    add_agent(code_dir, parent=None, *, operator=None, message="", meta=None) -> Node   status "built"
    add_node(kind, content: str, parent=None, *, operator=None, meta=None) -> Node       text nodes
    propose(kind, parent=None, *, operator=None, meta=None) -> Node    status "proposed", no content yet
    attach_code(node_id, code_dir, message="") -> Node       proposed agent -> "built"
    attach_tree(node_id, tree, message="") -> Node           the same from a tree already in agents.git
    adopt_tree(source: GitStore, tree) -> tree                copy a captured tree into agents.git (unreachable)
        agent code with links pointing outside itself is refused (ArchiveError) by all three
    attach_content(node_id, content: str) -> Node            proposed text node -> "built"
    import_agents(entries: Sequence[AgentImport]) -> list[Node]   bulk: commits already in agents.git
    set_status(node_id, status, reason=None) -> Node         see models.TRANSITIONS; same status = no-op
        proposed -> modifying -> built -> validating -> evaluating -> evaluated (-> evaluating: next stage);
        each non-final status -> rejected | failed (evaluated -> rejected only); built and later need content
    update_meta(node_id, changes: Mapping) -> Node            merge keys (e.g. "problem_statement")
    add_edge(src, dst, kind) -> Edge                          "src <kind> dst", e.g. produced_by, scored_under
    remove_edge(src, dst, kind)                               withdraw one (logged as `edge_removed`)
    node(id) -> Node; nodes(kind=None, status=None) -> list[Node]; children(id); lineage(id) (root..id);
    depth(id) -> int; edges(node_id=None) -> list[Edge]; resolve(user_text) -> id ("n0042", "n42", "42")

Code
    code(node_id) -> CodeTree             the code read from git objects: entries(), files(), links(), read(path);
                                          links are listed, never followed (the host never reads a checkout)
    materialize(node_id, dest) -> Path    one git operation at any depth; dest absent or empty (to mount
                                          into a sandbox, never to read on the host)
    diff(old_id | None, new_id) -> str    unified diff (git for agents, difflib for text nodes)
    diff_to_parent(node_id) -> str

Results (keyed by (code_hash, evaluator, evaluator_version, task_id, attempt): identical code shares them)
    record_result(node_id, evaluator, evaluator_version, task_id, *, status: ResultStatus, attempt=0,
                  tests_passed=None, tests_failed=None, exit_code=None, duration_s=None, log_path=None,
                  trajectory_path=None, patch_path=None, cost_usd=0.0, tokens=0, detail=None) -> TaskResult
        idempotent: an existing key returns the existing row; resolved == (status == "resolved")
    cached_result(node_id, evaluator, evaluator_version, task_id, attempt=0) -> TaskResult | None
    results(node_id, evaluator=None, evaluator_version=None) -> list[TaskResult]

Stages and scores (scores derive from the results on every read)
    record_stage(node_id, evaluator, evaluator_version, stage, task_ids, attempts=1) -> Score
        the node needs code; re-declaring the same list is a no-op. Cumulative stages (DGM 10 -> 10+50):
        list all their tasks; results already there (from this or identical code) count at once.
    missing_tasks(node_id, evaluator, evaluator_version, stage) -> list[(task_id, attempt)]  left to run
    scores(node_id) -> list[Score]          declaration order; Score.score = n_resolved / n_tasks
    infra_exhausted(node_id=None) -> set[(node, task)]   given up on; their attempts leave n_tasks
    scores_by_node() -> dict[id, list[Score]]
    best_score(node_id, evaluator=None) -> float | None     latest stage's score
    summaries(kind="agent", evaluator=None, evaluator_version=None) -> list[NodeSummary]
        one SQL query for all nodes (~40 ms at 10^4 nodes): parent-selection input. It reads tallies
        that SQLite triggers keep in the same transaction as each result (see schema.py).

Views, costs, events
    graph(evaluator=None, evaluator_version=None) -> nx.DiGraph; helpers in opendgm.archive.graph:
        tree, roots, depths, descendants, children_counts, clade_counts
    ledger: ArchiveLedger (opendgm.llm.ledger.Ledger: record(CallRecord), totals(campaign, node), calls)
    cost(node_id) -> Totals                 the node's ledger rows
    log_event(kind, node_id=None, data=None) -> int;  events(since_id=0, node_id=None, limit=None)
    event_count(kind) -> int; latest_events(n, *, kind=None, skip=()) -> newest n, oldest first; last_event_id()
    credit.fitness(archive) -> {node: Fitness}   meta-prompt fitness: its children's gain over their parents
    credit.fitness_of(archive, node_id) -> Fitness | None   the same for one node, reading only its children
    artifacts: ArtifactStore — put(relpath, bytes | str) -> relpath; put_file(relpath, path) -> relpath;
        open(relpath) -> BinaryIO; read_bytes; read_text; exists; path. Files > 64 KiB are gzipped,
        reading decompresses; record the relpath in a result's log_path / trajectory_path / patch_path.

CLI
    opendgm.archive.cli.app: typer app with tree, show, diff, export (read-only). `root_app.add_typer(app)`
    without a name mounts them at the top level; they print ArchiveError as one line and exit 2.

Records (frozen dataclasses, opendgm.archive.models; NodeSummary is a NamedTuple)
    Node(id, seq, kind, parent_id, status, status_reason, operator, meta, commit, code_hash, content,
         message, created_at, updated_at)   code_hash: git tree hash (agents), git blob hash (text nodes)
    TaskResult(id, code_hash, evaluator, evaluator_version, task_id, attempt, node_id, resolved, status,
               tests_passed, tests_failed, exit_code, duration_s, log_path, trajectory_path, patch_path,
               cost_usd, tokens, detail, created_at)
    Score(evaluator, evaluator_version, stage, n_tasks, n_done, n_resolved) + .score, .complete
    NodeSummary(id, parent_id, kind, status, status_reason, operator, code_hash, n_children, stage,
                n_tasks, n_done, n_resolved, passes, fails) + .score
    Event(id, ts, kind, node_id, data); Edge(src, dst, kind, created_at);
    AgentImport(commit, parent=None | id | earlier index, operator=None, message="", meta={}, status="built")
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
    Event,
    Node,
    NodeKind,
    NodeSummary,
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
    "Event",
    "Node",
    "NodeKind",
    "NodeSummary",
    "ResultStatus",
    "Score",
    "Status",
    "TaskResult",
]
