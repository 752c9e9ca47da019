"""The typed failures of a model call.

DGM swallowed every API error into an empty answer, so a dead key looked like a bad agent. Here every
failure is an `LLMError` whose class says what to do about it: `TransientLLMError`s are retried by the
Router, everything else is permanent and surfaces at once with a message a person can act on.
"""

from __future__ import annotations


class LLMError(Exception):
    """Base of every model-layer failure. `where` names the role and model; `attempts` counts sends."""

    hint = ""

    def __init__(self, message: str, *, where: str = "", status: int | None = None) -> None:
        self.message = message
        self.where = where
        self.status = status
        self.attempts = 0
        super().__init__(message)

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


class BudgetExceeded(LLMError):
    """Refused before sending: the call's conservative cost estimate would cross a budget limit."""

    hint = "raise the limit in the campaign config, or resume with a higher one"


class ReplayMiss(LLMError):
    """Replay mode and no recorded exchange for this request."""

    hint = "record this campaign again (mode record/auto), or check that the request is deterministic"


class ProviderError(LLMError):
    """The provider refused the request for a reason that retrying will not fix."""


class AuthenticationFailed(ProviderError):
    hint = "check the API key in the role's api_key_env variable and the key's permissions"


class ModelNotFound(ProviderError):
    hint = "check the role's model string and api_base"


class ContextTooLong(ProviderError):
    hint = "shorten the messages or lower max_tokens"


class BadRequest(ProviderError):
    """Any other 4xx: the request itself is wrong."""


class MalformedResponse(ProviderError):
    """The provider answered, but not with a usable completion (invalid JSON, no choices, no content)."""


class TransientLLMError(LLMError):
    """A failure that may pass: the Router retries these with bounded exponential backoff."""


class RateLimited(TransientLLMError):
    pass


class ServerError(TransientLLMError):
    pass


class LLMTimeout(TransientLLMError):
    pass


class ConnectionFailed(TransientLLMError):
    pass


class RetriesExhausted(LLMError):
    """Every attempt failed transiently; `last` is the final attempt's error."""

    def __init__(self, last: TransientLLMError, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts; last: {last.brief()}", where=last.where)
        self.last = last
        self.attempts = attempts
