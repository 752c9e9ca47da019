"""When a model call is tried again, and when it stops: the Router's retry schedule.

Transient failures are retried with the policy's exponential backoff, stretched to the provider's Retry-After
(up to the policy's `retry_after_max_s`), for at most the policy's attempts. A call with a deadline (its gateway
token's, or the policy's `total_s`) is also cut there: no attempt runs past it (its timeout shrinks to the time
left) and no wait starts that would end beyond it, so a slow or hung provider becomes a `ModelTimeout` inside the
caller's own time limit instead of outliving it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from opendgm.llm.errors import LLMTimeout, ModelTimeout, ProviderError, RetriesExhausted, TransientLLMError
from opendgm.llm.roles import RetryPolicy

log = logging.getLogger(__name__)

Send = Callable[[float], dict[str, Any]]


def run(send: Send, policy: RetryPolicy, timeout_s: float, deadline: float | None, where: str) -> tuple[dict, int]:
    """`send(timeout)` until it answers, fails for good, or the schedule ends; the answer and the attempts made.

    `timeout_s` is one attempt's longest silence, `deadline` a `time.monotonic()` value or None. Raises the
    permanent failure (a `ProviderError`), `RetriesExhausted` when the attempts ran out, `ModelTimeout` when the
    deadline cut the retries.
    """
    started = time.monotonic()
    if policy.total_s is not None:
        deadline = min(deadline if deadline is not None else float("inf"), started + policy.total_s)
    backoff = wait_exponential_jitter(multiplier=policy.initial_s, max=policy.max_s, jitter=policy.jitter_s)
    cut: list[str] = []  # why the deadline stopped the retries, once it has

    def wait(state: RetryCallState) -> float:
        asked = _error(state).retry_after_s
        return backoff(state) if asked is None else max(backoff(state), min(asked, policy.retry_after_max_s))

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        if deadline is not None and time.monotonic() + state.upcoming_sleep >= deadline:
            asked = _error(state).retry_after_s
            if asked is not None and asked >= state.upcoming_sleep:
                cut.append(f"the provider asked to wait {asked:g} s (Retry-After), past the deadline")
            else:
                cut.append("the deadline came before the next attempt could")
            return True
        return False

    def attempt() -> dict[str, Any]:
        left = float("inf") if deadline is None else deadline - time.monotonic()
        if left <= 0:
            cut.append("the deadline had passed before an attempt")
            raise LLMTimeout("no time left for an attempt", where=where)
        timeout = min(timeout_s, left)
        try:
            return send(timeout)
        except LLMTimeout as exc:
            raise LLMTimeout(f"no answer within {timeout:.3g} s (hung provider?): {exc.message}", where=where) from exc

    retrying = Retrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception_type(TransientLLMError),
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        return retrying(attempt), retrying.statistics["attempt_number"]
    except TransientLLMError as exc:
        attempts, waited = retrying.statistics["attempt_number"], time.monotonic() - started
        if cut:
            raise ModelTimeout(
                f"no answer before the call's deadline: {cut[0]}; {attempts} attempts in {waited:.1f} s;"
                f" last: {exc.brief()}",
                where=where,
                attempts=attempts,
                waited_s=waited,
            ) from exc
        raise RetriesExhausted(exc, attempts, waited) from exc
    except ProviderError as exc:  # sent and refused (a ConfigError was never sent: attempts stay 0)
        exc.attempts = retrying.statistics["attempt_number"]
        raise


def _error(state: RetryCallState) -> TransientLLMError:
    assert state.outcome is not None  # waits and stops are decided after a failed attempt
    error = state.outcome.exception()
    assert isinstance(error, TransientLLMError)  # only those are retried
    return error


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    sleep = state.next_action.sleep if state.next_action else 0.0
    log.warning("%s; retry %d in %.2fs", error, state.attempt_number, sleep)
