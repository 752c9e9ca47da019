"""The `tracking:` block of a campaign config (kept here so the tracking room owns its options)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrackingConfig(BaseModel):
    """Where a campaign reports its config, per-node scores and spend."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mlflow", "wandb"] = Field(description="`mlflow` or `wandb` (Weights & Biases).")
    uri: str | None = Field(
        None,
        description="mlflow: the tracking URI (default: sqlite:///<campaign dir>/mlflow.db, a local store, no server).",
    )
    experiment: str | None = Field(None, description="mlflow experiment / wandb project (default: the campaign name).")
    run_name: str | None = Field(None, description="The run's name (default: the campaign name).")
    entity: str | None = Field(None, description="wandb: the team or user that owns the project.")
    mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="wandb: `offline` writes under <campaign dir>/wandb for `wandb sync` (default: wandb's own)."
    )
    tags: list[str] = Field(default_factory=list, description="Tags on the run.")
    interval_s: float = Field(10.0, gt=0, description="Seconds between two reads of the archive's event log.")
