"""The campaign config: one YAML file, validated, every field documented, unknown keys rejected."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, model_validator

from opendgm.cluster import ExecutorConfig
from opendgm.evolve import entries
from opendgm.evolve.landscape import SimulationConfig
from opendgm.llm import LLMConfig, LocalServerConfig, check_local_roles
from opendgm.prompts import SEARCH_ONLY, MetaPromptOptions, MPOOptions, PE2Options, PromptCampaignConfig
from opendgm.sandbox import DEFAULT_IMAGE
from opendgm.tracking import TrackingConfig


class ConfigProblem(ValueError):
    """The campaign config cannot be used; the message says where and why."""


def field_errors(error: ValidationError) -> str:
    """One indented line per problem, each naming the field path: what a user needs to fix a config."""
    return "\n".join(f"  {'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in error.errors())


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvaluatorConfig(Strict):
    name: str = Field("humaneval", description="Evaluator entry-point name (`opendgm evaluators list`).")
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword options for the evaluator.")


class StageConfig(Strict):
    """One evaluation stage. A child goes on to the next stage only if its score so far reaches `threshold`."""

    subset: str = Field(description="Subset name of the evaluator, or comma-separated task ids.")
    limit: int | None = Field(None, gt=0, description="Use only the first N tasks of the subset.")
    threshold: float = Field(0.0, ge=0, le=1, description="Score needed on this stage to enter the next one.")
    top: int | None = Field(
        None,
        gt=0,
        description="Also needed to enter the next stage: rank among the archive's `top` agents by score (DGM's third "
        "stage: top two).",
    )


class OperatorWeights(Strict):
    """Relative weights of the operators that make a generation's (or an async expansion's) children."""

    self_improve: float = Field(1.0, ge=0, description="DGM's step: diagnose a failure, the parent rewrites itself.")
    pe2: float = Field(0.0, ge=0, description="PE2 rewrites one prompt file (slot) of the parent from its failures.")
    hyper_mutation: float = Field(
        0.0, ge=0, description="PromptBreeder's hyper-mutation: the meta model rewrites one of the meta-prompts."
    )

    @model_validator(mode="after")
    def _makes_agents(self) -> OperatorWeights:
        if self.self_improve + self.pe2 <= 0:
            raise ValueError("self_improve or pe2 needs a positive weight: some operator must make agents")
        return self

    def draw(self, k: int, rng: random.Random) -> list[str]:
        """k operator names, drawn by weight."""
        weights = self.model_dump()
        names = [name for name, weight in weights.items() if weight > 0]
        return rng.choices(names, weights=[weights[name] for name in names], k=k)


class SandboxConfig(Strict):
    backend: Literal["auto", "docker", "local", "local-unsafe"] = "auto"
    image: str = DEFAULT_IMAGE
    memory_mb: int = Field(2048, gt=0)


class BudgetConfig(Strict):
    """Campaign-level stops besides the model budget in `llm.budget` (USD and tokens)."""

    nodes: int | None = Field(None, ge=0, description="Children to create at most (the seed not counted).")
    task_evaluations: int | None = Field(None, ge=0, description="Per-task results to record at most.")
    wall_time_s: float | None = Field(None, gt=0, description="Stop starting new work after this long.")


class ScoringConfig(Strict):
    """How an agent's score is computed and counted by the selectors (DGM's choices in the dgm-* presets)."""

    score: Literal["last_stage", "cumulative"] = Field(
        "last_stage",
        description="`last_stage`: the score of the deepest stage reached; `cumulative` (DGM): resolved over all "
        "tasks of every stage completed (10 + 50 = 60).",
    )
    children: Literal["all", "kept"] = Field(
        "all",
        description="What `n_children` counts in score_child_prop: every child proposed (`all`), or only the children "
        "kept in the archive (`kept`, DGM: evaluated and not rejected).",
    )
    seed_every_stage: bool = Field(
        False, description="Evaluate the seed on every stage whatever its score (DGM caches its seed on all 60 tasks)."
    )


class SelfImproveConfig(Strict):
    """How the parent agent rewrites itself."""

    entry_rule: Literal["opendgm", "dgm_swebench", "dgm_polyglot"] = Field(
        "opendgm",
        description="What a child learns from: `opendgm` (empty patches, else a failed task), `dgm_swebench` (DGM's "
        "SWE-bench rule: empty patches, stochasticity, context length, else an unresolved task), `dgm_polyglot` "
        "(DGM's Polyglot rule: a random empty or unresolved task).",
    )
    entry_chances: entries.Chances = Field(default_factory=entries.Chances)

    timeout_s: float = Field(900, gt=0, description="Wall-clock limit of one self-modification run.")
    max_steps: int | None = Field(30, gt=0, description="Agent steps during self-modification (null: no cap, as DGM).")
    role: str = Field(
        "agent",
        description="The model role the parent runs with while rewriting itself (DGM's Polyglot runs: Claude "
        "for self-modification, o3-mini for the tasks).",
    )
    self_test: bool = Field(True, description="Reject children whose own test suite fails.")
    diagnosis_chars: int = Field(
        30000, gt=1000, description="Size of the diagnosis prompt's evidence (code, trajectory, patch, grading)."
    )


class HGMConfig(Strict):
    """HGM's asynchronous rules (`mode: async`). The defaults keep earlier campaigns' behaviour; the values of HGM's
    own run are in examples/hgm-swebench.yaml (see docs/reproducing.md)."""

    expand_from: Literal["evaluated", "own_positive"] = Field(
        "evaluated",
        description="Which agents may be expanded: `evaluated` (at least one own task result) or `own_positive` "
        "(HGM: own mean utility finite and above zero). A child without a result is never expanded.",
    )
    count_seed_evaluations: bool = Field(
        True, description="Count the seed's task results in the expand/evaluate rule (HGM does not: false)."
    )
    initial_expansions: int | Literal["hgm"] = Field(
        0, description="Children made before the expand/evaluate rule applies; `hgm`: min(5, int(workers ** alpha))."
    )
    eval_random_level: float = Field(
        1.0, ge=0, le=1, description="Chance that an evaluation takes a random task of the node (else its next one "
        "in pool order)."
    )  # fmt: skip
    cool_down: bool = Field(
        False, description="Sharpen the Thompson draws as the task-evaluation budget runs out (HGM's cool-down)."
    )
    cool_down_beta: float = Field(
        1.0, gt=0, description="Cool-down exponent: both Beta parameters times (N / (N - n)) ** beta."
    )

    def sharpness(self, spent: int, total: int | None) -> float:
        """HGM's cool-down factor tau = (N / (N - n)) ** beta on both Beta parameters, n of the N counted task
        evaluations spent (N excludes the seed's when they are not counted, as HGM's `max_task_evals` does);
        1 without cool-down, 10,000 once the budget is spent (HGM's value)."""
        if not self.cool_down or total is None:
            return 1.0
        if spent >= total:
            return 10_000.0
        return float((total / (total - spent)) ** self.cool_down_beta)

    def first_expansions(self, workers: int, alpha: float) -> int:
        """How many children HGM makes before it starts choosing between expanding and evaluating."""
        return min(5, int(workers**alpha)) if self.initial_expansions == "hgm" else self.initial_expansions


class CampaignConfig(Strict):
    """A campaign: what to evolve, with which models, judged how, within which limits."""

    name: str = Field("campaign", description="Campaign name (labels, ledger).")
    seed_agent: str = Field(
        "seed", description="A built-in seed agent (`seed`, `dgm-initial`) or a path to an agent directory."
    )
    seed: int = Field(0, description="RNG seed: the same seed and models give the same choices.")
    llm: LLMConfig = Field(description="Model roles (`agent` for agents, `meta` for diagnosis), budget, replay.")
    local_server: LocalServerConfig | None = Field(
        None, description="A local model server the campaign starts; roles with api_base `local` use it."
    )
    evaluator: EvaluatorConfig = Field(default_factory=EvaluatorConfig)
    stages: list[StageConfig] = Field(
        default_factory=lambda: [StageConfig(subset="small", threshold=0.4), StageConfig(subset="medium")],
        min_length=1,
    )
    selector: Literal["score_child_prop", "hgm", "best", "random", "hill_climb"] = Field(
        "score_child_prop",
        description="Parent selection. In mode `async` it picks the node to expand (default there: `hgm`).",
    )
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    archive_rule: Literal["keep_all", "keep_better"] = Field(
        "keep_all",
        description="`keep_all`: every valid child stays a possible parent; `keep_better` (DGM): a child scoring below "
        "the seed's score minus `keep_better_margin` is rejected (`rejected_by: keep_better`).",
    )
    keep_better_margin: float = Field(
        0.1, ge=0, le=1, description="keep_better: how far below the seed a child may be."
    )
    baseline: Literal["none", "no_darwin", "no_selfimprove"] = Field(
        "none",
        description="DGM's ablations: `no_darwin` always expands the newest agent (no open-ended archive search); "
        "`no_selfimprove` has the seed agent, not the parent, make every modification.",
    )
    operators: OperatorWeights = Field(default_factory=OperatorWeights)
    pe2: PE2Options = Field(default_factory=PE2Options, description="Operator `pe2`: the agent's prompt files.")
    meta_prompts: MetaPromptOptions = Field(default_factory=MetaPromptOptions)
    mpo: MPOOptions | None = Field(
        None,
        description="With the `llm-judge` evaluator: its judge role and how MPO evolves its rubric (intervals are "
        "generations). Without this block an llm-judge campaign judges under its seed rubric with role `judge`.",
    )
    mode: Literal["generations", "async"] = Field(
        "generations",
        description="`generations`: DGM's rounds (select parents, make and fully evaluate children). `async`: HGM's "
        "workers, each choosing between expanding a node and evaluating a node on one more task.",
    )
    hgm_alpha: float = Field(
        0.6, gt=0, le=1, description="async: expand while task_evaluations ** alpha >= agents - 1 + expansions running."
    )
    hgm: HGMConfig = Field(default_factory=HGMConfig)
    children_per_generation: int = Field(2, gt=0, description="Parents chosen per generation (DGM: 2).")
    generations: int = Field(10, gt=0, description="Generations to run at most.")
    workers: int = Field(2, gt=0, description="Tasks evaluated in parallel.")
    executor: ExecutorConfig = Field(
        default_factory=ExecutorConfig,
        description="Where sandbox work runs: `local` (this machine) or `ray` (a cluster, see README).",
    )
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    self_improve: SelfImproveConfig = Field(default_factory=SelfImproveConfig)
    simulation: SimulationConfig = Field(
        default_factory=SimulationConfig, description="`opendgm simulate`'s landscape; a real campaign ignores it."
    )
    tracking: TrackingConfig | None = Field(
        None, description="Experiment tracking (MLflow or W&B): config, per-node scores and spend as the campaign runs."
    )

    @field_serializer("pe2")
    def _agent_pe2(self, options: PE2Options) -> dict[str, Any]:
        return options.model_dump(exclude=set(SEARCH_ONLY))  # as stored before the prompt campaign's twin merged

    @field_serializer("meta_prompts")
    def _agent_meta_prompts(self, options: MetaPromptOptions) -> dict[str, Any]:
        return options.model_dump(exclude={"hyper_mutation"})  # an operator weight here

    @model_validator(mode="after")
    def _roles(self) -> CampaignConfig:
        missing = {"agent", "meta", self.self_improve.role} - set(self.llm.roles)
        if missing:
            raise ValueError(f"llm.roles needs {sorted(missing)} (agent: the agents' model; meta: diagnosis)")
        if self.mode == "async" and self.baseline != "none":
            raise ValueError(
                f"baseline {self.baseline!r} is one of DGM's generational ablations: use mode `generations`"
            )
        if self.mode == "async" and self.budget.task_evaluations is None and self.budget.nodes is None:
            raise ValueError("mode `async` runs until a limit: set budget.task_evaluations or budget.nodes")
        if self.mode == "async" and "selector" not in self.model_fields_set:
            self.selector = "hgm"  # async expands by HGM's clade sampling unless a selector is named (then it is used)
        if self.hgm.cool_down and self.budget.task_evaluations is None:
            raise ValueError("hgm.cool_down sharpens towards the end of budget.task_evaluations: set it")
        if self.executor.kind == "ray" and self.llm.replay.mode != "off":
            raise ValueError(
                "llm.replay is kept by the campaign's process; calls made on cluster nodes would escape it"
            )
        if self.executor.kind == "ray" and self.evaluator.name == "llm-judge":
            raise ValueError("the llm-judge evaluator grades with the campaign's own judge: use executor kind `local`")
        self.pe2 = self.pe2.for_agents()
        if self.meta_prompts.hyper_mutation:
            raise ValueError("meta_prompts.hyper_mutation: agent campaigns weight it in operators.hyper_mutation")
        self._judge_roles()
        check_local_roles(self.llm, self.local_server)
        return self

    def judging(self) -> MPOOptions:
        """The llm-judge's MPO settings: the `mpo` block, or a judge that keeps its seed rubric."""
        return self.mpo or MPOOptions(refine="never")

    def _judge_roles(self) -> None:
        """`mpo` needs the `llm-judge` evaluator (the only one with a rubric), and the judge needs its roles."""
        if self.evaluator.name != "llm-judge":
            if self.mpo is not None:
                raise ValueError(f"mpo: evolves the llm-judge evaluator's rubric; evaluator {self.evaluator.name!r}"
                                 " has none")  # fmt: skip
            return
        mpo = self.judging()
        if self.mode == "async" and mpo.refine != "never":
            raise ValueError("mpo: rubric refinement runs between generations; mode `async` has none")
        needed = {mpo.role} | ({mpo.mrm_role} if mpo.refine != "never" else set())
        missing = needed - set(self.llm.roles)
        if missing:
            raise ValueError(f"llm.roles needs {sorted(missing)} for the llm-judge evaluator's judge and MPO")

    @classmethod
    def load(cls, path: Path) -> CampaignConfig:
        """Read and validate a YAML config; problems come back as one readable `ConfigProblem`."""
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigProblem(f"cannot read campaign config {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigProblem(f"{path} is not valid YAML: {exc}") from exc
        try:
            return cls.model_validate(raw or {})
        except ValidationError as exc:
            raise ConfigProblem(f"{path} is not a valid campaign config:\n{field_errors(exc)}") from exc


def load_any(path: Path) -> CampaignConfig | PromptCampaignConfig:
    """A campaign config from YAML: `kind: prompt` makes a prompt campaign's, anything else an agent campaign's;
    problems come back as one readable `ConfigProblem`."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raw = None  # the agent-campaign loader reports the problem
    if not (isinstance(raw, dict) and raw.get("kind") == "prompt"):
        return CampaignConfig.load(path)
    try:
        return PromptCampaignConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigProblem(f"{path} is not a valid prompt campaign config:\n{field_errors(exc)}") from exc
