"""The model layer: every model call in opendgm goes through the Router, and every sandboxed call
through the Gateway. See `router.py` for the life of one call."""

import importlib
from typing import TYPE_CHECKING, Any

from opendgm.llm.budget import Budget, Reservation, Reservations
from opendgm.llm.errors import (
    AuthenticationFailed,
    BadRequest,
    BudgetExceeded,
    ConfigError,
    ConnectionFailed,
    ContextTooLong,
    EmptyCompletion,
    InvalidRequest,
    LLMError,
    LLMTimeout,
    MalformedResponse,
    ModelNotFound,
    ModelTimeout,
    ProviderError,
    RateLimited,
    ReplayMiss,
    RetriesExhausted,
    ServerError,
    TransientLLMError,
)
from opendgm.llm.ledger import (
    CALLS,
    PENDING,
    RECORD,
    TOTALS,
    CallRecord,
    Ledger,
    MemoryLedger,
    SQLiteLedger,
    Totals,
    call_from_row,
    scope,
    total_of,
)
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

if TYPE_CHECKING:
    from opendgm.llm.gateway import Gateway, Grant, TokenRecord
    from opendgm.llm.gateway_http import GatewayLimits
    from opendgm.llm.local_server import (
        LocalServer,
        LocalServerConfig,
        LocalServerError,
        check_local_roles,
        embedded_gguf,
        serve_local_roles,
    )
    from opendgm.llm.provider import require_keys
    from opendgm.llm.replay import ReplayStore, request_key
    from opendgm.llm.router import Completion, Router

# Loaded on first use (PEP 562): the model-calling half (router, gateway, HTTP server, local server) costs a
# process that only reads ledgers or errors, as every archive command does, most of its start-up.
_LAZY = {
    "Gateway": "opendgm.llm.gateway",
    "Grant": "opendgm.llm.gateway",
    "TokenRecord": "opendgm.llm.gateway",
    "GatewayLimits": "opendgm.llm.gateway_http",
    "LocalServer": "opendgm.llm.local_server",
    "LocalServerConfig": "opendgm.llm.local_server",
    "LocalServerError": "opendgm.llm.local_server",
    "check_local_roles": "opendgm.llm.local_server",
    "embedded_gguf": "opendgm.llm.local_server",
    "serve_local_roles": "opendgm.llm.local_server",
    "require_keys": "opendgm.llm.provider",
    "ReplayStore": "opendgm.llm.replay",
    "request_key": "opendgm.llm.replay",
    "Completion": "opendgm.llm.router",
    "Router": "opendgm.llm.router",
}

__all__ = [
    "CALLS",
    "FREE",
    "PENDING",
    "RECORD",
    "TOTALS",
    "AuthenticationFailed",
    "BadRequest",
    "Budget",
    "BudgetExceeded",
    "BudgetLimits",
    "CallRecord",
    "Completion",
    "ConfigError",
    "ConnectionFailed",
    "ContextTooLong",
    "EmptyCompletion",
    "Gateway",
    "GatewayLimits",
    "Grant",
    "InvalidRequest",
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
    "ModelTimeout",
    "Price",
    "ProviderError",
    "RateLimited",
    "ReplayConfig",
    "ReplayMiss",
    "ReplayMode",
    "ReplayStore",
    "Reservation",
    "Reservations",
    "RetriesExhausted",
    "RetryPolicy",
    "RoleConfig",
    "Router",
    "SQLiteLedger",
    "ServerError",
    "TokenRecord",
    "Totals",
    "TransientLLMError",
    "call_from_row",
    "check_local_roles",
    "embedded_gguf",
    "request_key",
    "require_keys",
    "scope",
    "serve_local_roles",
    "total_of",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
