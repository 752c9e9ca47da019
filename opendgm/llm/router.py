"""The Router: the single path of every model call in opendgm.

One call = budget check (before anything is sent) → replay store or provider (with bounded retries of
transient failures) → validation (no empty answer passes as an answer) → one ledger row, whatever
happened.

The request is keyed for replay as the caller wrote it; what goes to the provider may carry cache breakpoints
(`prompt_cache.py`) for providers that cache only where asked. Cost counts cached prompt tokens at the cache's
prices; the budget holds, and a pending row carries, the ceiling of what the call may cost (a cache write is dearer
than plain input).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opendgm.llm import schedule
from opendgm.llm.budget import Budget, Reservations, hold
from opendgm.llm.errors import (
    BudgetExceeded,
    ConfigError,
    EmptyCompletion,
    InvalidRequest,
    LLMError,
    MalformedResponse,
)
from opendgm.llm.ledger import PENDING, CallRecord, Ledger, MemoryLedger, Outcome
from opendgm.llm.prompt_cache import decorate
from opendgm.llm.provider import count_tokens, explicit_caching, price_of, send
from opendgm.llm.replay import ReplayStore, request_key
from opendgm.llm.roles import BudgetLimits, LLMConfig, Price, ReplayMode, RetryPolicy, RoleConfig
from opendgm.llm.usage import Usage, reported

# Set by the role config only: a call may tune sampling, not redirect the request or carry a key
# (which would also land in the replay store).
_RESERVED = frozenset({"model", "messages", "api_key", "api_base", "base_url", "timeout", "num_retries"})
# Completion caps: the budget's estimate is the largest of them, so each must be a count.
_CAPS = ("max_tokens", "max_completion_tokens")


@dataclass(frozen=True)
class Completion:
    """A successful call: the answer text, the full OpenAI-format response, and its ledger row.

    `text` is empty only when the model answered with tool calls instead (see `response`).
    """

    text: str
    response: dict[str, Any]
    call: CallRecord


@dataclass(frozen=True)
class _Call:
    """What is known about a call before it is sent."""

    role: str
    role_config: RoleConfig
    request: dict[str, Any]  # as the caller wrote it: the replay key and the replay store's record
    sent: dict[str, Any]  # as it goes to the provider (with cache breakpoints where the host asks for caching)
    key: str
    node: str | None
    purpose: str
    estimate: Usage  # prompt tokens counted, completion tokens capped by max_tokens
    ceiling: float  # the most the call can cost, in USD
    started: float
    deadline: float | None  # time.monotonic() after which no attempt is made or waited for
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # its ledger row, pending then final

    @property
    def where(self) -> str:
        return f"{self.role} → {self.role_config.model}"


class Router:
    """Sends chat requests for named roles, within one campaign's budget, recording every call."""

    def __init__(
        self,
        roles: Mapping[str, RoleConfig],
        *,
        ledger: Ledger | None = None,
        campaign: str = "adhoc",
        limits: BudgetLimits | None = None,
        retry: RetryPolicy | None = None,
        replay: ReplayStore | None = None,
        budget: Reservations | None = None,
    ) -> None:
        """`budget`: where calls are reserved and settled; by default a `Budget` of `limits` over `ledger` (one
        process), on a cluster the campaign's global budget (`opendgm.cluster.budget_actor`)."""
        self.roles = dict(roles)
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger()
        self.campaign = campaign
        self.budget: Reservations = budget or Budget(limits or BudgetLimits(), self.ledger, campaign)
        self.retry = retry or RetryPolicy()
        self.replay = replay
        # Priced up front so that an unpriceable role fails at start-up, not mid-campaign.
        self._prices: dict[str, Price] = {name: price_of(role, name) for name, role in self.roles.items()}
        self._marks: dict[str, bool] = {
            name: role.cache and explicit_caching(role) for name, role in self.roles.items()
        }

    @classmethod
    def from_config(
        cls,
        config: LLMConfig,
        *,
        ledger: Ledger | None = None,
        campaign: str = "adhoc",
        budget: Reservations | None = None,
    ) -> Router:
        replay = None
        if config.replay.mode is not ReplayMode.OFF:
            if config.replay.path is None:
                raise ConfigError(f"replay mode {config.replay.mode} needs replay.path")
            replay = ReplayStore(config.replay.path, config.replay.mode)
        return cls(
            config.roles,
            ledger=ledger,
            campaign=campaign,
            limits=config.budget,
            retry=config.retry,
            replay=replay,
            budget=budget,
        )

    def complete(
        self,
        role: str,
        messages: list[dict[str, Any]],
        *,
        node: str | None = None,
        purpose: str = "",
        deadline: float | None = None,
        **params: Any,
    ) -> Completion:
        """Chat completion for `role`; `params` override the role's sampling defaults. `deadline` (a
        `time.monotonic()` value) bounds the call's attempts and waits, after which it raises `ModelTimeout`.

        Raises an `LLMError` subclass on any failure, after recording it in the ledger (except a call refused
        before anything was reserved: an unknown role, a reserved or invalid parameter).
        """
        if role not in self.roles:
            raise ConfigError(f"unknown role {role!r}; configured roles: {', '.join(sorted(self.roles))}")
        if _RESERVED & params.keys():
            raise ConfigError(f"{sorted(_RESERVED & params.keys())} come from the role config, not the call")
        config = self.roles[role]
        # None never unsets a role default: the budget estimate relies on max_tokens being there.
        sampling = config.sampling() | {k: v for k, v in params.items() if v is not None}
        request = {"model": config.model, "messages": messages, **sampling}
        estimate = Usage(count_tokens(config.model, messages, sampling.get("tools")), _completion_cap(sampling))
        price, marks = self._prices[role], self._marks[role]
        call = _Call(
            role=role,
            role_config=config,
            request=request,
            sent=decorate(request, config.cache_ttl) if marks else request,
            key=request_key(request),
            node=node,
            purpose=purpose,
            estimate=estimate,
            ceiling=price.ceiling(*estimate[:2], cache_writes=marks),
            started=time.monotonic(),
            deadline=deadline,
        )
        try:
            tokens = estimate.prompt_tokens + estimate.completion_tokens
            with hold(self.budget, node, call.ceiling, tokens, call.where) as spent:
                return self._obtain(call, price, spent)
        except BudgetExceeded as exc:
            self._record(call, "refused", error=exc)
            raise

    def _obtain(self, call: _Call, price: Price, spent: Callable[[CallRecord], None]) -> Completion:
        """Send or replay the call; its final ledger row goes to `spent`, which settles the budget's hold."""
        usage, cost, attempts, replayed = Usage(0, 0), 0.0, 0, False
        try:
            recorded = self.replay.lookup(call.key) if self.replay else None
            if recorded is None:
                self._record(call, PENDING, call.estimate, call.ceiling)  # survives a kill
                response, attempts = self._send(call)
                usage, cost = _charge(response, call, price)
            else:
                response, replayed = recorded.response, True
                usage, cost = _charge(response, call, price)[0], recorded.cost_usd
            text = _text(response, call.where)
        except LLMError as exc:
            spent(self._record(call, "error", usage, cost, exc.attempts or attempts, error=exc))
            raise
        if self.replay and not replayed:
            self.replay.save(call.key, call.request, response, cost)
        record = self._record(call, "ok", usage, cost, attempts, replayed=replayed)
        spent(record)
        return Completion(text=text, response=response, call=record)

    def _send(self, call: _Call) -> tuple[dict[str, Any], int]:
        def attempt(timeout_s: float) -> dict[str, Any]:
            return send(call.role_config, call.sent, call.where, timeout_s)

        return schedule.run(attempt, self.retry, call.role_config.timeout_s, call.deadline, call.where)

    def _record(
        self,
        call: _Call,
        outcome: Outcome,
        usage: Usage = Usage(0, 0),
        cost: float = 0.0,
        attempts: int = 0,
        *,
        replayed: bool = False,
        error: LLMError | None = None,
    ) -> CallRecord:
        record = CallRecord(
            campaign=self.campaign,
            node=call.node,
            role=call.role,
            purpose=call.purpose,
            model=call.role_config.model,
            outcome=outcome,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=cost,
            latency_s=time.monotonic() - call.started,
            attempts=attempts,
            replayed=replayed,
            error_class=type(error).__name__ if error else None,
            error=str(error) if error else None,
            request_hash=call.key,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            id=call.id,
        )
        self.ledger.record(record)
        return record


def _completion_cap(sampling: dict[str, Any]) -> int:
    """The most completion tokens the request allows: the largest of its caps (a provider may honour either).

    A cap that is not a positive integer is refused here, before anything is reserved: a negative or fractional
    estimate would make room in the budget (and a negative max_tokens means "unlimited" to llama.cpp).
    """
    caps = []
    for key in _CAPS:
        value = sampling.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequest(f"{key} must be a positive integer, got {value!r}")
        caps.append(value)
    return max(caps, default=0)


def _charge(response: dict[str, Any], call: _Call, price: Price) -> tuple[Usage, float]:
    """The usage the provider reported and its cost; a provider that reports none, or counts that are not counts,
    is charged the call's ceiling on its estimate (a report must never pay spend back)."""
    usage = reported(response)
    if usage is None:
        return call.estimate, call.ceiling
    return usage, price.cost(*usage)


def _text(response: dict[str, Any], where: str) -> str:
    """The answer, or `MalformedResponse`: an empty string must never pass for an answer."""
    choices = response.get("choices") or []
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse("response has no choices", where=where)
    message = choices[0].get("message") or {}
    if not isinstance(message, dict):
        raise MalformedResponse(f"the first choice's message is a {type(message).__name__}", where=where)
    if message.get("content") or message.get("tool_calls"):
        return message.get("content") or ""
    reason = choices[0].get("finish_reason")
    raise EmptyCompletion(f"empty completion (finish_reason={reason!r}), neither content nor tool calls", where=where)
