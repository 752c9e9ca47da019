"""The library API: what `opendgm run` and `opendgm evaluate` do, as typed calls, and the archive they write.

    result = opendgm.run("examples/quickstart.yaml", "campaigns/quickstart")   # start or resume
    with opendgm.open_archive("campaigns/quickstart") as archive:              # read-only, safe while it runs
        print(archive.summaries(kind="agent"))

The commands are thin views over these functions; both wire a campaign directory through `opendgm.session`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opendgm.agents import SEED_AGENTS, agent_source
from opendgm.archive import Archive, ArchiveError, Score
from opendgm.cluster import ExecutorConfig, make_executor
from opendgm.evaluators import (
    EvaluationContext,
    Evaluator,
    OnResult,
    RubricJudge,
    Task,
    evaluate_stage,
    ignore,
    registry,
)
from opendgm.evolve import CampaignConfig, Report, open_campaign, prompt_campaign
from opendgm.evolve import load_any as load_config
from opendgm.llm import FREE, LLMConfig, LocalServerConfig, Totals, require_keys
from opendgm.prompts import MPOOptions, PromptCampaignConfig
from opendgm.sandbox import DEFAULT_IMAGE, BackendName, Limits, choose_backend
from opendgm.session import open_session, prepare_sandboxes
from opendgm.usage import UsageMistake

log = logging.getLogger(__name__)

__all__ = ["Evaluation", "EvaluationResult", "RunResult", "evaluate", "load_config", "open_archive", "run"]

AnyConfig = CampaignConfig | PromptCampaignConfig
AGENT_ROLE = "agent"
JUDGE_ROLE = "judge"


@dataclass(frozen=True)
class RunResult:
    """How a campaign run ended: why, the exit code `opendgm run` gives it (0 finished, 3 a limit, 4 a persistent
    infrastructure failure, 128 + a signal), and for a prompt campaign its report."""

    directory: Path
    reason: str
    exit_code: int
    report: Report | None = None


def run(
    config_or_path: AnyConfig | str | Path,
    directory: str | Path | None = None,
    *,
    retry_infra: bool = False,
    accept_config_change: bool = False,
    on_change: Callable[[], None] = lambda: None,
) -> RunResult:
    """Start a campaign in `directory` (default `campaigns/<name>`), or resume the one there, until it stops.
    `retry_infra` and `accept_config_change` are `opendgm run`'s flags of the same names."""
    config = config_or_path if isinstance(config_or_path, AnyConfig) else load_config(Path(config_or_path))
    require_keys(config.llm.roles)
    root = Path(directory) if directory is not None else Path("campaigns") / config.name
    if isinstance(config, PromptCampaignConfig):
        report = prompt_campaign.run_in(config, root, lambda _archive: on_change)
        return RunResult(root, f"done: {report.n_prompts} prompts", 0, report)
    opened = open_campaign(config, root, on_change, accept_config_change=accept_config_change, retry_infra=retry_infra)
    with opened as campaign:
        return RunResult(root, campaign.run(), campaign.exit_code)


def open_archive(directory: str | Path, *, readonly: bool = True) -> Archive:
    """A campaign's archive; read-only by default (any number of readers, safe while the campaign runs). Close it,
    or use it as a context manager."""
    return Archive.open(directory, readonly=readonly)


@dataclass(frozen=True)
class Evaluation:
    """What an evaluation is about to run, for a progress display: the node, the evaluator, the stage, its tasks."""

    archive: Archive
    node_id: str
    evaluator: Evaluator
    stage: str
    tasks: list[Task]


@dataclass(frozen=True)
class EvaluationResult:
    directory: Path
    node_id: str
    score: Score
    spent: Totals


Watch = Callable[[Evaluation], AbstractContextManager[OnResult]]


def evaluate(
    target: str | Path = "seed",
    *,
    evaluator: str = "humaneval",
    options: Mapping[str, Any] | None = None,
    subset: str = "small",
    limit: int | None = None,
    directory: str | Path = "campaigns/adhoc",
    models: LLMConfig | str | Path | None = None,
    local_server: LocalServerConfig | None = None,
    workers: int = 2,
    backend: BackendName = "auto",
    executor: ExecutorConfig | None = None,
    watch: Watch | None = None,
    say: Callable[[str], None] = log.info,
) -> EvaluationResult:
    """Run an agent (a directory, a built-in seed such as `seed` or `dgm-initial`, or a node id of the campaign in
    `directory`) on an evaluator's tasks in sandboxes, recording every result in that campaign's archive.

    `models`: the roles (an LLM config, e.g. a campaign config's `llm`, or its YAML), with `local_server` for
    roles whose `api_base` is `local`; None serves the embedded SmolLM2 as roles `agent` and `judge`.
    `watch(evaluation)` is entered while the tasks run and yields the callback told of each outcome."""
    grader = registry.load(evaluator, **dict(options or {}))
    tasks = grader.select(subset, limit)
    chosen = choose_backend(backend)
    prepare_sandboxes(chosen, {task.image for task in tasks}, say)
    llm, server = _models(models, local_server)
    stage = subset if limit is None else f"{subset}[:{limit}]"
    with Archive.open_or_create(directory, Path(directory).name) as archive:
        node_id = agent_node(archive, str(target))
        run = make_executor(_Placement(executor or ExecutorConfig(), workers, options or {}, backend))
        try:
            with open_session(archive, llm, server) as session:
                judge = None
                if grader.needs_judge:  # judged under the archive's rubric lineage, never refined here
                    if JUDGE_ROLE not in session.router.roles:
                        raise UsageMistake(f"{grader.name} needs a `{JUDGE_ROLE}` role in the models {models}")
                    rubrics = RubricJudge(archive, grader, session.router, MPOOptions(role=JUDGE_ROLE, refine="never"))
                    grader, judge = rubrics.evaluator, rubrics.judge
                showing = watch(Evaluation(archive, node_id, grader, stage, tasks)) if watch else nullcontext(None)
                with showing as show:
                    archive.set_status(node_id, "evaluating")
                    context = EvaluationContext(run, session.gateway, chosen, judge=judge, on_result=show or ignore)
                    score = evaluate_stage(archive, node_id, grader, tasks, stage, context)
                    archive.set_status(node_id, "evaluated")
        finally:
            run.shutdown()
        return EvaluationResult(Path(directory), node_id, score, archive.cost(node_id))


def _models(
    models: LLMConfig | str | Path | None, local_server: LocalServerConfig | None
) -> tuple[LLMConfig, LocalServerConfig | None]:
    """The roles to serve; with none given, the embedded model started as roles `agent` and `judge`."""
    if isinstance(models, LLMConfig):
        return models, local_server
    if models is not None:
        return LLMConfig.from_yaml(Path(models)), local_server
    server = LocalServerConfig()
    local = {"model": f"openai/{server.name}", "api_base": "local", "price": FREE}
    roles = {AGENT_ROLE: {**local, "max_tokens": 512}, JUDGE_ROLE: {**local, "max_tokens": 256}}
    return LLMConfig.model_validate({"roles": roles}), server


@dataclass
class _Sandboxing:
    backend: BackendName
    image: str = DEFAULT_IMAGE  # on a cluster, each node builds it
    memory_mb: int = Limits().memory_mb


@dataclass
class _Options:
    options: dict[str, Any]


class _Placement:
    """`opendgm evaluate`'s answers to what `make_executor` asks of a campaign config."""

    def __init__(self, executor: ExecutorConfig, workers: int, options: Mapping[str, Any], backend: BackendName):
        self.executor, self.workers = executor, workers
        self.evaluator, self.sandbox = _Options(dict(options)), _Sandboxing(backend)


def agent_node(archive: Archive, target: str) -> str:
    """The node to evaluate: an existing node id, or a directory (or built-in seed) imported as a new root agent."""
    directory = agent_source(target)
    if directory.is_dir():
        return archive.add_agent(directory, operator="import", message=f"imported from {target}").id
    seeds = ", ".join(SEED_AGENTS)
    if directory.exists() or any(mark in target for mark in ("/", "\\", "~")) or target.startswith("."):
        raise UsageMistake(f"no agent directory {target}: evaluate takes a directory, a seed ({seeds}) or a node id")
    try:
        return archive.resolve(target)
    except ArchiveError as error:
        raise UsageMistake(f"{error}; nor is {target!r} an agent directory or a seed ({seeds})") from None
