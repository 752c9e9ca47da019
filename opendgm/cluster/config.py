"""The `executor:` block of a campaign config: where evaluations, self-modifications and validations run.

Kept free of Ray imports so that configs validate (and `kind: local` runs) where Ray is not installed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ExecutorConfig(BaseModel):
    """`local`: a thread pool on the campaign's machine. `ray`: units of work on a Ray cluster (the `ray` extra)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "ray"] = Field("local", description="Where work runs: this machine, or a Ray cluster.")
    address: str = Field(
        "auto",
        description="ray: `auto` (the cluster `ray start` made on this machine), `ray://HOST:PORT` (Ray Client), "
        "`HOST:PORT` (the head's GCS), or `local` (a private one-machine cluster, for trying things out).",
    )
    max_retries: int = Field(
        3, ge=0, description="ray: times a unit is run again when its worker or node dies (recorded once whatever)."
    )
    num_cpus: float = Field(1.0, gt=0, description="ray: CPUs reserved per unit (one sandbox each).")
    resources: dict[str, float] = Field(
        default_factory=dict,
        description="ray: custom resources each unit needs, e.g. `{sandbox: 1}` to run only on nodes started with "
        "`--resources '{\"sandbox\": 4}'`.",
    )
