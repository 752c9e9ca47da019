"""The config of a standalone prompt campaign: a dataset, a task model, a proposer, an operator (PE2, APE
or OPRO) with its options block."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opendgm.llm import LLMConfig, LocalServerConfig, check_local_roles
from opendgm.prompts import ape, opro, pe2, rubrics
from opendgm.prompts.data import Dataset, load_jsonl
from opendgm.prompts.generators import generate


class DatasetSpec(BaseModel):
    """Either a built-in seeded generator or a JSONL file."""

    model_config = ConfigDict(extra="forbid")

    builtin: str | None = Field(None, description="arithmetic, base8/9/11/16, second_letter, reverse, sort_words.")
    jsonl: Path | None = Field(None, description='Lines {"input", "target", "id"?, "split"?}.')
    sizes: tuple[int, int, int] = Field((20, 20, 50), description="train/dev/test sizes (unused if lines carry split).")
    seed: int = 0

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.builtin is None) == (self.jsonl is None):
            raise ValueError("dataset needs exactly one of `builtin` or `jsonl`")
        return self

    def load(self) -> Dataset:
        if self.builtin is not None:
            return generate(self.builtin, self.sizes, self.seed)
        assert self.jsonl is not None
        return load_jsonl(self.jsonl, self.sizes, self.seed)


class OperatorOptions(BaseModel):
    """What every operator's options share: a typo in a key is an error, and proposals have a length cap."""

    model_config = ConfigDict(extra="forbid")

    max_words: int = Field(50, ge=1, description="Longer proposals are cut to this many words.")


SEARCH_ONLY = ("steps", "beam", "children", "history")  # PE2's knobs that only a prompt campaign's search has


class PE2Options(OperatorOptions):
    """PE2, in a prompt campaign (a beam search over prompts) or as an agent campaign's operator (a rewrite of one
    of the agent's prompt files, `slots`). `max_words` defaults to 50 for a prompt and 400 for a prompt file."""

    steps: int = Field(3, ge=0, description="Prompt campaigns: search steps.")
    beam: int = Field(4, ge=1, description="Prompt campaigns: best prompts (on dev) expanded per step.")
    children: int = Field(4, ge=1, description="Prompt campaigns: children per beam member.")
    batch_size: int = Field(2, ge=1, description="Failed examples (tasks) shown per proposal (hard negatives).")
    step_size: int | None = Field(None, ge=1, description="Change at most this many words (off by default).")
    history: bool = Field(False, description="Prompt campaigns: show the parent's lineage with dev scores.")
    slots: list[str] = Field(
        default_factory=lambda: ["prompts/system.md", "prompts/instance.md"],
        min_length=1,
        description="Agent campaigns: prompt files of the agent PE2 may rewrite (paths inside the agent); one is "
        "drawn per child.",
    )

    def settings(self) -> pe2.Settings:
        return pe2.Settings(**self.model_dump(exclude={"slots"}))

    def for_agents(self) -> PE2Options:
        """The options as an agent campaign reads them: the search's knobs refused, prompt files 400 words long
        unless `max_words` says otherwise."""
        search = [name for name in SEARCH_ONLY if getattr(self, name) != PE2Options.model_fields[name].default]
        if search:
            raise ValueError(f"pe2.{search[0]} steers a prompt campaign's search; an agent campaign has none")
        return self if "max_words" in self.model_fields_set else self.model_copy(update={"max_words": 400})


class APEOptions(OperatorOptions):
    """APE: induce instructions from train demos, then vary the best ones (iterative APE)."""

    candidates: int = Field(8, ge=1, description="Instructions induced, and variations written per paraphrase step.")
    demos: int = Field(5, ge=1, description="Train input/output pairs shown per induction (a fresh sample each).")
    paraphrase_steps: int = Field(1, ge=0, description="Rounds of iterative APE after the induction step.")
    keep: int = Field(3, ge=1, description="How many of the best prompts on dev each paraphrase step varies.")

    def settings(self) -> ape.Settings:
        return ape.Settings(**self.model_dump())


class OPROOptions(OperatorOptions):
    """OPRO: propose from the best earlier instructions and their train scores."""

    steps: int = Field(3, ge=0, description="Optimisation steps.")
    per_step: int = Field(8, ge=1, description="Instructions sampled per step from one meta-prompt.")
    top_k: int = Field(20, ge=1, description="Best earlier instructions shown, with train scores, worst first.")
    exemplars: int = Field(3, ge=0, description="Train examples shown with the instruction's slot.")

    def settings(self) -> opro.Settings:
        return opro.Settings(**self.model_dump())


class MPOOptions(BaseModel):
    """MPO on a judge's rubric: who judges, who rewrites the rubric, and how often."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field("judge", description="The judge's model role.")
    mrm_role: str = Field("meta", description="The meta-reward model's role (rewrites the rubric).")
    task: str = Field("", description="What a good output is, in a sentence: shown to the meta-reward model.")
    interval: int = Field(
        4, ge=1, description="Policy steps per MPO interval: judged prompts (prompt campaigns), generations (agents)."
    )
    samples: int = Field(8, ge=1, description="Judged outputs the meta-reward model reviews per refinement.")
    refine: Literal["interval", "alarm", "never"] = Field(
        "interval", description="Refine after every interval (MPO), only when the hacking alarm fires, or never."
    )
    window: int = Field(3, ge=1, description="Intervals per side of the hacking alarm's comparison.")

    def settings(self, seed: int) -> rubrics.Settings:
        return rubrics.Settings(
            interval=self.interval, samples=self.samples, refine=self.refine, task=self.task, window=self.window,
            seed=seed,
        )  # fmt: skip


class JudgeOptions(MPOOptions):
    """Select prompts by an LLM judge's scores against a rubric that MPO evolves; exact match against the
    labels stays the held-out gold check (the judge never sees labels), which the hacking alarm watches."""

    rubric: str = Field(description="The seed rubric: one `<item>...</item>` per criterion, with its points.")
    threshold: float = Field(7.0, ge=0, le=10, description="A dev output counts as good from this judge score (0-10).")


class MetaPromptOptions(BaseModel):
    """The meta-prompts that drive the operators form a population per role: UCB1 chooses one per child by its
    fitness (the gain of the children it produced over their parents: dev in prompt campaigns, the deepest
    common stage in agent campaigns), and hyper-mutation adds rewrites (in agent campaigns, by the operator
    weight `operators.hyper_mutation`)."""

    model_config = ConfigDict(extra="forbid")

    exploration: float = Field(
        0.5, ge=0, description="UCB1 exploration constant (gains lie in [-1, 1]); 0 always takes the fittest."
    )
    hyper_mutation: bool = Field(
        False,
        description="Prompt campaigns: before each step after the first, the proposer rewrites a meta-prompt "
        "(PromptBreeder).",
    )


class PromptCampaignConfig(BaseModel):
    """`kind: prompt` campaigns select on dev and report the winner's test accuracy."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["prompt"] = "prompt"
    name: str
    llm: LLMConfig = Field(description="Roles named by `target_role` (answers tasks) and `proposer_role`.")
    local_server: LocalServerConfig | None = Field(
        None, description="A local model server the campaign starts; roles with api_base `local` use it."
    )
    dataset: DatasetSpec
    target_role: str = "target"
    proposer_role: str = "meta"
    operator: Literal["pe2", "ape", "opro"] = Field("pe2", description="The search; its options block is used.")
    pe2: PE2Options = Field(default_factory=PE2Options)
    ape: APEOptions = Field(default_factory=APEOptions)
    opro: OPROOptions = Field(default_factory=OPROOptions)
    meta_prompts: MetaPromptOptions = Field(default_factory=MetaPromptOptions)
    judge: JudgeOptions | None = Field(None, description="Select by an LLM judge under an MPO-evolved rubric.")
    placement: Literal["before", "after"] = "before"
    seed_prompts: list[str] = Field(default_factory=lambda: ["Let's think step by step."], min_length=1)
    seed: int = 0

    @model_validator(mode="after")
    def _roles_exist(self) -> PromptCampaignConfig:
        judging = {self.judge.role, self.judge.mrm_role} if self.judge else set()
        missing = {self.target_role, self.proposer_role, *judging} - self.llm.roles.keys()
        if missing:
            raise ValueError(f"llm.roles lacks {sorted(missing)}")
        if self.pe2.slots != PE2Options().slots:
            raise ValueError("pe2.slots names an agent's prompt files; a prompt campaign evolves one prompt")
        check_local_roles(self.llm, self.local_server)
        return self
