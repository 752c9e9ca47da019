"""The simulated landscape of `opendgm simulate`: latent abilities, Bernoulli task results, drawn durations.

A child's latent ability is its parent's plus a random step (clipped to [0, 1]); a share of children are broken
(they do not run, like a child DGM's compile check drops). Each task evaluation is a Bernoulli draw with the
agent's ability. Every draw comes from an RNG seeded by the campaign seed and the node (and task), so a
simulation is the same on every run whatever order its work happens in.
"""

from __future__ import annotations

import math
import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Draw(BaseModel):
    """A random quantity. `normal`: mean, sd = spread; `lognormal`: median = mean, log-sd = spread;
    `uniform`: mean ± spread; `constant`: mean."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["normal", "lognormal", "uniform", "constant"] = "normal"
    mean: float = 0.0
    spread: float = Field(0.0, ge=0)

    def sample(self, rng: random.Random) -> float:
        if self.kind == "normal":
            return rng.gauss(self.mean, self.spread)
        if self.kind == "lognormal":
            return self.mean * math.exp(rng.gauss(0.0, self.spread))
        if self.kind == "uniform":
            return rng.uniform(self.mean - self.spread, self.mean + self.spread)
        return self.mean


class SimulationConfig(BaseModel):
    """`opendgm simulate`'s landscape (a real campaign ignores this block)."""

    model_config = ConfigDict(extra="forbid")

    initial_ability: float = Field(0.2, ge=0, le=1, description="The seed's latent ability (DGM's seed: 20%).")
    step: Draw = Field(
        default_factory=lambda: Draw(kind="normal", mean=-0.01, spread=0.06),
        description="A child's ability minus its parent's (most self-modifications help little or hurt).",
    )
    broken_share: float = Field(0.3, ge=0, le=1, description="Share of children that do not run at all.")
    target: float = Field(0.4, gt=0, le=1, description="The ability whose first appearance the summary times.")
    task_duration_s: Draw = Field(
        default_factory=lambda: Draw(kind="lognormal", mean=600, spread=0.6), description="One task evaluation."
    )
    modify_duration_s: Draw = Field(
        default_factory=lambda: Draw(kind="lognormal", mean=1200, spread=0.4), description="One self-modification."
    )


def rng_for(seed: int, *parts: str) -> random.Random:
    """The RNG of one draw site (a node's step, a node's task), independent of every other."""
    return random.Random(":".join([str(seed), "simulate", *parts]))


def child_ability(landscape: SimulationConfig, seed: int, node_id: str, parent_ability: float) -> tuple[float, bool]:
    """(latent ability, broken) of a new child."""
    rng = rng_for(seed, "child", node_id)
    broken = rng.random() < landscape.broken_share
    return min(1.0, max(0.0, parent_ability + landscape.step.sample(rng))), broken


def task_draw(landscape: SimulationConfig, seed: int, node_id: str, task_id: str, ability: float) -> tuple[bool, float]:
    """(resolved, duration in seconds) of one task evaluation."""
    rng = rng_for(seed, "task", node_id, task_id)
    return rng.random() < ability, max(0.0, landscape.task_duration_s.sample(rng))


def modify_duration(landscape: SimulationConfig, seed: int, node_id: str) -> float:
    return max(0.0, landscape.modify_duration_s.sample(rng_for(seed, "modify", node_id)))
