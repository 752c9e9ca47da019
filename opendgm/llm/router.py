"""The Router: the single path of every model call in opendgm.

One call = budget check (before anything is sent) → replay store or provider (with bounded retries of
transient failures) → validation (no empty answer passes as an answer) → one ledger row, whatever
happened.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from opendgm.llm.budget import Budget
from opendgm.llm.errors import (
    BudgetExceeded,
    ConfigError,
    LLMError,
    MalformedResponse,
    ProviderError,
    RetriesExhausted,
    TransientLLMError,
)
from opendgm.llm.ledger import PENDING, CallRecord, Ledger, MemoryLedger, Outcome
from opendgm.llm.provider import count_tokens, price_of, send
from opendgm.llm.replay import ReplayStore, request_key
from opendgm.llm.roles import BudgetLimits, LLMConfig, Price, ReplayMode, RetryPolicy, RoleConfig

log = logging.getLogger(__name__)

# Set by the role config only: a call may tune sampling, not redirect the request or carry a key
# (which would also land in the replay store).
_RESERVED = frozenset({"model", "messages", "api_key", "api_base", "base_url", "timeout", "num_retries"})


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
    request: dict[str, Any]
    key: str
    node: str | None
    purpose: str
    estimate: tuple[int, int]  # prompt tokens counted, completion tokens capped by max_tokens
    started: float
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
    ) -> None:
        self.roles = dict(roles)
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger()
        self.campaign = campaign
        self.budget = Budget(limits or BudgetLimits(), self.ledger, campaign)
        self.retry = retry or RetryPolicy()
        self.replay = replay
        # Priced up front so that an unpriceable role fails at start-up, not mid-campaign.
        self._prices: dict[str, Price] = {name: price_of(role, name) for name, role in self.roles.items()}

    @classmethod
    def from_config(cls, config: LLMConfig, *, ledger: Ledger | None = None, campaign: str = "adhoc") -> Router:
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
        )

    def complete(
        self,
        role: str,
        messages: list[dict[str, Any]],
        *,
        node: str | None = None,
        purpose: str = "",
        **params: Any,
    ) -> Completion:
        """Chat completion for `role`; `params` override the role's sampling defaults.

        Raises an `LLMError` subclass on any failure, after recording it in the ledger.
        """
        if role not in self.roles:
            raise ConfigError(f"unknown role {role!r}; configured roles: {', '.join(sorted(self.roles))}")
        if _RESERVED & params.keys():
            raise ConfigError(f"{sorted(_RESERVED & params.keys())} come from the role config, not the call")
        config = self.roles[role]
        # None never unsets a role default: the budget estimate relies on max_tokens being there.
        sampling = config.sampling() | {k: v for k, v in params.items() if v is not None}
        request = {"model": config.model, "messages": messages, **sampling}
        max_out = int(sampling.get("max_completion_tokens") or sampling.get("max_tokens") or 0)
        call = _Call(
            role=role,
            role_config=config,
            request=request,
            key=request_key(request),
            node=node,
            purpose=purpose,
            estimate=(count_tokens(config.model, messages), max_out),
            started=time.monotonic(),
        )
        price = self._prices[role]
        try:
            with self.budget.hold(node, price.cost(*call.estimate), sum(call.estimate), call.where):
                return self._obtain(call, price)
        except BudgetExceeded as exc:
            self._record(call, "refused", error=exc)
            raise

    def _obtain(self, call: _Call, price: Price) -> Completion:
        usage, cost, attempts, replayed = (0, 0), 0.0, 0, False
        try:
            recorded = self.replay.lookup(call.key) if self.replay else None
            if recorded is None:
                self._record(call, PENDING, call.estimate, price.cost(*call.estimate))  # survives a kill
                response, attempts = self._send(call)
                usage = _usage(response, call.estimate)
                cost = price.cost(*usage)
            else:
                response, replayed = recorded.response, True
                usage, cost = _usage(response, call.estimate), recorded.cost_usd
            text = _text(response, call.where)
        except LLMError as exc:
            self._record(call, "error", usage, cost, exc.attempts or attempts, error=exc)
            raise
        if self.replay and not replayed:
            self.replay.save(call.key, call.request, response, cost)
        record = self._record(call, "ok", usage, cost, attempts, replayed=replayed)
        return Completion(text=text, response=response, call=record)

    def _send(self, call: _Call) -> tuple[dict[str, Any], int]:
        policy = self.retry
        retrying = Retrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_exponential_jitter(multiplier=policy.initial_s, max=policy.max_s, jitter=policy.jitter_s),
            retry=retry_if_exception_type(TransientLLMError),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            response = retrying(send, call.role_config, call.request, call.where)
        except TransientLLMError as exc:
            raise RetriesExhausted(exc, retrying.statistics["attempt_number"]) from exc
        except ProviderError as exc:  # sent and refused (a ConfigError was never sent: attempts stay 0)
            exc.attempts = retrying.statistics["attempt_number"]
            raise
        return response, retrying.statistics["attempt_number"]

    def _record(
        self,
        call: _Call,
        outcome: Outcome,
        usage: tuple[int, int] = (0, 0),
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
            prompt_tokens=usage[0],
            completion_tokens=usage[1],
            cost_usd=cost,
            latency_s=time.monotonic() - call.started,
            attempts=attempts,
            replayed=replayed,
            error_class=type(error).__name__ if error else None,
            error=str(error) if error else None,
            request_hash=call.key,
            id=call.id,
        )
        self.ledger.record(record)
        return record


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    sleep = state.next_action.sleep if state.next_action else 0.0
    log.warning("%s; retry %d in %.2fs", error, state.attempt_number, sleep)


def _usage(response: dict[str, Any], estimate: tuple[int, int]) -> tuple[int, int]:
    """Reported usage; a provider that reports none is charged the conservative estimate."""
    usage = response.get("usage") or {}
    if "prompt_tokens" not in usage:
        return estimate
    return int(usage["prompt_tokens"] or 0), int(usage.get("completion_tokens") or 0)


def _text(response: dict[str, Any], where: str) -> str:
    """The answer, or `MalformedResponse`: an empty string must never pass for an answer."""
    choices = response.get("choices") or []
    if not choices:
        raise MalformedResponse("response has no choices", where=where)
    message = choices[0].get("message") or {}
    if message.get("content") or message.get("tool_calls"):
        return message.get("content") or ""
    reason = choices[0].get("finish_reason")
    raise MalformedResponse(f"empty completion (finish_reason={reason!r}), neither content nor tool calls", where=where)
