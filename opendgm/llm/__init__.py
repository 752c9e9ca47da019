"""The model layer: every model call in opendgm goes through the Router, and every sandboxed call
through the Gateway. See `router.py` for the life of one call."""

from opendgm.llm.errors import (
    AuthenticationFailed,
    BadRequest,
    BudgetExceeded,
    ConfigError,
    ConnectionFailed,
    ContextTooLong,
    LLMError,
    LLMTimeout,
    MalformedResponse,
    ModelNotFound,
    ProviderError,
    RateLimited,
    ReplayMiss,
    RetriesExhausted,
    ServerError,
    TransientLLMError,
)
from opendgm.llm.gateway import Gateway, Grant
from opendgm.llm.ledger import CallRecord, Ledger, MemoryLedger, SQLiteLedger, Totals
from opendgm.llm.local_server import LocalServer, LocalServerConfig, LocalServerError, embedded_gguf
from opendgm.llm.replay import ReplayStore, request_key
from opendgm.llm.roles import (
    FREE,
    BudgetLimits,
    LLMConfig,
    Price,
    ReplayConfig,
    ReplayMode,
    RetryPolicy,
    RoleConfig,
)
from opendgm.llm.router import Completion, Router

__all__ = [
    "FREE",
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "BudgetLimits",
    "CallRecord",
    "Completion",
    "ConfigError",
    "ConnectionFailed",
    "ContextTooLong",
    "Gateway",
    "Grant",
    "LLMConfig",
    "LLMError",
    "LLMTimeout",
    "Ledger",
    "LocalServer",
    "LocalServerConfig",
    "LocalServerError",
    "MalformedResponse",
    "MemoryLedger",
    "ModelNotFound",
    "Price",
    "ProviderError",
    "RateLimited",
    "ReplayConfig",
    "ReplayMiss",
    "ReplayMode",
    "ReplayStore",
    "RetriesExhausted",
    "RetryPolicy",
    "RoleConfig",
    "Router",
    "SQLiteLedger",
    "ServerError",
    "Totals",
    "TransientLLMError",
    "embedded_gguf",
    "request_key",
]
