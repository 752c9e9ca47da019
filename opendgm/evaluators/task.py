"""What one benchmark task is, and what grading it found."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from opendgm.outcomes import Verdict
from opendgm.sandbox import DEFAULT_IMAGE

if TYPE_CHECKING:
    from opendgm.prompts import Judged, Sample

Judge = Callable[["Sample"], "Judged"]  # scores one answer under one rubric (MPO's judge)


class Task(BaseModel):
    """A repository task: the agent sees the statement and the repository, never the hidden tests."""

    model_config = ConfigDict(extra="forbid")

    id: str
    statement: str
    repo_files: dict[str, bytes] = Field(default_factory=dict, description="Visible starting repository.")
    hidden_tests: dict[str, bytes] = Field(default_factory=dict, description="Added only at grading.")
    test_command: str = Field("true", description="Run in the repository at grading; exit 0 means resolved.")
    image: str = DEFAULT_IMAGE
    agent_timeout_s: float = Field(600, gt=0)
    grading_timeout_s: float = Field(120, gt=0)
    invalid: str | None = Field(None, description="Why the task cannot be run (bad task files), if it cannot.")


@dataclass(frozen=True)
class Grade:
    """Outcome of grading one finished workspace."""

    status: Verdict  # resolved | unresolved | patch_failed | grading_timeout | grading_error
    tests_passed: int
    tests_failed: int
    exit_code: int
    output: str
    notes: tuple[str, ...] = ()  # what grading changed or noticed (dropped import hooks, a tampered runner)

    @property
    def resolved(self) -> bool:
        return self.status == "resolved"


@dataclass(frozen=True)
class Grading:
    """What one grading call is for, passed into each `Evaluator.grade`: the archive node whose diff it is
    (None outside a campaign) and, for an evaluator that asks a model (`needs_judge`), the judge to ask."""

    node: str | None = None
    judge: Judge | None = None


NO_GRADING = Grading()
