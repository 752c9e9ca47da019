"""Configuration of the model layer: roles (which model does which job), retries, budget, replay.

A campaign names *roles* (`agent`, `meta`, `judge`, ...) rather than models, so one config line moves a
role from an API model to a local vLLM server. Keys are named by environment variable, never written
into a config, so configs can be committed and shown in the dashboard.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


class Price(BaseModel):
    """USD per million tokens. Local models cost 0.

    Prompt tokens read from or written to a provider's prompt cache have prices of their own. Left unset, a read
    costs the full prompt price (no discount is assumed) and a write the prompt price times the provider's premium
    (the Router fills both in from litellm's price map, or from the role's cache TTL: see `provider.price_of`).
    """

    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(ge=0, description="USD per 1M prompt tokens.")
    completion: float = Field(ge=0, description="USD per 1M completion tokens.")
    cache_read: float | None = Field(
        None, ge=0, description="USD per 1M prompt tokens read from the provider's cache (unset: `prompt`)."
    )
    cache_write: float | None = Field(
        None,
        ge=0,
        description="USD per 1M prompt tokens written to the provider's cache, at the role's `cache_ttl`"
        " (unset: `prompt` times the provider's premium, Anthropic 1.25 for 5 minutes, 2 for 1 hour).",
    )

    def cost(
        self, prompt_tokens: int, completion_tokens: int, cache_read_tokens: int = 0, cache_write_tokens: int = 0
    ) -> float:
        """What a call costs; `prompt_tokens` counts every prompt token, the cached ones included."""
        read = self.prompt if self.cache_read is None else self.cache_read
        write = self.prompt if self.cache_write is None else self.cache_write
        uncached = prompt_tokens - cache_read_tokens - cache_write_tokens
        return (
            uncached * self.prompt + cache_read_tokens * read + cache_write_tokens * write
            + completion_tokens * self.completion
        ) / 1_000_000  # fmt: skip

    def ceiling(self, prompt_tokens: int, completion_tokens: int, *, cache_writes: bool) -> float:
        """The most a call can cost: every prompt token at the dearest price it may be billed at (a cache write,
        when the request asks for caching), never at a discount a cache read might or might not bring."""
        dearest = max(self.prompt, self.cache_read or 0.0, (self.cache_write or 0.0) if cache_writes else 0.0)
        return (prompt_tokens * dearest + completion_tokens * self.completion) / 1_000_000


FREE = Price(prompt=0, completion=0)


class RoleConfig(BaseModel):
    """One model role: where to send it, how to sample, what it costs."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="litellm model string, e.g. `anthropic/claude-sonnet-4-5`, `openai/<name>`.")
    api_base: str | None = Field(None, description="OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama).")
    api_key_env: str | None = Field(None, description="Name of the environment variable holding the key.")
    max_tokens: int = Field(1024, gt=0, description="Default completion cap; also bounds the budget estimate.")
    temperature: float | None = None
    top_p: float | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="Further sampling params (seed, stop...).")
    price: Price | None = Field(
        None, description="Overrides litellm's price map; unknown models with an api_base are free."
    )
    timeout_s: float = Field(
        120, gt=0, description="Per-attempt timeout: a provider silent this long is hung (the attempt is retried)."
    )
    cache: bool = Field(
        True,
        description="Ask providers that cache only where asked (Anthropic) to cache the stable prompt prefix; false"
        " sends no cache breakpoints. Providers that cache on their own (OpenAI, vLLM, llama.cpp) are not affected.",
    )
    cache_ttl: Literal["5m", "1h"] = Field(
        "5m", description="How long a cached prefix lives (Anthropic): 1-hour writes cost 2x input, 5-minute 1.25x."
    )

    def sampling(self) -> dict[str, Any]:
        """The role's default request parameters (a call may override any of them)."""
        defaults = {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p}
        return {k: v for k, v in defaults.items() if v is not None} | self.params


class RetryPolicy(BaseModel):
    """Bounded exponential backoff with jitter for transient failures, within a call's deadline.

    A provider's Retry-After is honoured up to `retry_after_max_s`; a call with a deadline (its gateway token's,
    or `total_s`) stops retrying when the next attempt could not start before it, and raises `ModelTimeout`.
    """

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(4, ge=1, description="Total attempts, the first included.")
    initial_s: float = Field(1.0, ge=0)
    max_s: float = Field(30.0, ge=0)
    jitter_s: float = Field(1.0, ge=0)
    retry_after_max_s: float = Field(
        60.0, ge=0, description="Longest Retry-After wait honoured; a provider asking for more waits this long."
    )
    total_s: float | None = Field(
        None, gt=0, description="Bound on one call's whole time, attempts and waits included (None: attempts bound it)."
    )


class BudgetLimits(BaseModel):
    """Spend caps; None means unlimited. Node limits apply to each node separately."""

    model_config = ConfigDict(extra="forbid")

    usd: float | None = Field(None, ge=0)
    tokens: int | None = Field(None, ge=0)
    node_usd: float | None = Field(None, ge=0)
    node_tokens: int | None = Field(None, ge=0)


class ReplayMode(StrEnum):
    OFF = "off"
    RECORD = "record"  # always call, store every exchange
    REPLAY = "replay"  # serve only from the store; a miss is an error
    AUTO = "auto"  # serve from the store if present, else call and store


class ReplayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: ReplayMode = ReplayMode.OFF
    path: Path | None = Field(None, description="SQLite file of recorded exchanges.")


class LLMConfig(BaseModel):
    """The `llm:` section of a campaign config, or a standalone `models.yaml`."""

    model_config = ConfigDict(extra="forbid")

    roles: dict[str, RoleConfig]
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    budget: BudgetLimits = Field(default_factory=BudgetLimits)
    replay: ReplayConfig = Field(default_factory=ReplayConfig)

    @classmethod
    def from_yaml(cls, path: Path) -> LLMConfig:
        return cls.model_validate(yaml.safe_load(Path(path).read_text()))
