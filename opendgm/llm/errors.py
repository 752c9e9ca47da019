"""The typed failures of a model call.

DGM swallowed every API error into an empty answer, so a dead key looked like a bad agent. Here every
failure is an `LLMError` whose class says what to do about it: `TransientLLMError`s are retried by the
Router, everything else is permanent and surfaces at once with a message a person can act on.

Whose failure it is, the rule the host applies to every model call (agents' through the gateway, and its own:
diagnosis, PE2, judges, ...): a class's `infrastructure` says it.
- `infrastructure = True`: the model service, the budget or the host failed (unreachable, 5xx or 429 past the
  retries, hung past the deadline, a malformed answer, a bad key or unknown model, a spent budget, a missing
  replay, a configuration the call could not be made under). The work is retried later; it is never a verdict
  on an agent. This is the default: a failure nobody placed is not blamed on the request.
- `infrastructure = False`: the service worked, and the request got what it asked for. Either the request
  itself was bad (`InvalidRequest`, refused before sending; `BadRequest` and `ContextTooLong`, refused by the
  provider, e.g. an agent's own over-long context), or the model answered it with nothing (`EmptyCompletion`).
  Sending it again would fail again: a verdict on whoever built the request.
"""

from __future__ import annotations

from typing import ClassVar


class LLMError(Exception):
    """Base of every model-layer failure. `where` names the role and model; `attempts` counts sends;
    `retry_after_s` is the wait the provider asked for (its Retry-After), if it did."""

    hint = ""
    infrastructure: ClassVar[bool] = True

    def __init__(self, message: str, *, where: str = "", status: int | None = None) -> None:
        self.message = message
        self.where = where
        self.status = status
        self.attempts = 0
        self.retry_after_s: float | None = None
        super().__init__(message)

    @property
    def hung(self) -> bool:
        """The provider never answered (hung, not failing): the host's own record of it, never read from text."""
        return False

    def brief(self) -> str:
        """Class, status and message, without the location and the hint."""
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{type(self).__name__}{status}: {self.message}"

    def __str__(self) -> str:
        prefix = f"[{self.where}] " if self.where else ""
        hint = f" — {self.hint}" if self.hint else ""
        return f"{prefix}{self.brief()}{hint}"


class ConfigError(LLMError):
    """The call cannot be made as configured (unknown role, unset key variable); nothing was sent."""


class InvalidRequest(LLMError):
    """The request breaks the model layer's own rules (a field the gateway does not forward, a token count that is
    not a positive integer); refused before anything was sent or reserved."""

    infrastructure = False


class BudgetExceeded(LLMError):
    """Refused before sending: the call's conservative cost estimate would cross a budget limit."""

    hint = "raise the limit in the campaign config, or resume with a higher one"


class ReplayMiss(LLMError):
    """Replay mode and no recorded exchange for this request."""

    hint = "record this campaign again (mode record/auto), or check that the request is deterministic"


class ProviderError(LLMError):
    """The provider refused the request, or answered unusably, for a reason that retrying will not fix."""


class AuthenticationFailed(ProviderError):
    hint = "check the API key in the role's api_key_env variable and the key's permissions"


class ModelNotFound(ProviderError):
    hint = "check the role's model string and api_base"


class ContextTooLong(ProviderError):
    hint = "shorten the messages or lower max_tokens"
    infrastructure = False


class BadRequest(ProviderError):
    """Any other 4xx: the request itself is wrong."""

    infrastructure = False


class MalformedResponse(ProviderError):
    """The provider answered, but not with a usable completion (invalid JSON, no choices, no content)."""


class EmptyCompletion(MalformedResponse):
    """A well-formed completion with neither content nor tool calls: the model's own (empty) answer, where the
    other MalformedResponses are a broken service. Operators that judge products reject it."""

    infrastructure = False


class TransientLLMError(LLMError):
    """A failure that may pass: the Router retries these with bounded exponential backoff."""


class RateLimited(TransientLLMError):
    pass


class ServerError(TransientLLMError):
    pass


class LLMTimeout(TransientLLMError):
    """One attempt got no answer within its timeout (a hung or overloaded provider)."""


class ConnectionFailed(TransientLLMError):
    pass


class RetriesExhausted(LLMError):
    """Every attempt failed transiently; `last` is the final attempt's error, `waited_s` the call's whole time."""

    def __init__(self, last: TransientLLMError, attempts: int, waited_s: float) -> None:
        super().__init__(
            f"gave up after {attempts} attempts in {waited_s:.1f} s; last: {last.brief()}", where=last.where
        )
        self.last = last
        self.attempts = attempts
        self.waited_s = waited_s

    @property
    def hung(self) -> bool:
        return isinstance(self.last, LLMTimeout)


class ModelTimeout(LLMError):
    """No answer before the call's deadline (its gateway token's, or the retry policy's `total_s`): the retries
    stopped there, so a slow or hung provider never outlives the time its caller has."""

    def __init__(self, message: str, *, where: str = "", attempts: int = 0, waited_s: float = 0.0) -> None:
        super().__init__(message, where=where)
        self.attempts = attempts
        self.waited_s = waited_s

    @property
    def hung(self) -> bool:
        return True
