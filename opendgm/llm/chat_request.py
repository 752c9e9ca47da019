"""What a sandbox may ask of a model: its chat request, checked field by field before anything leaves the gateway.

Invariant 7 (agent output never acts on the host, docs/invariants.md).

Only what agents need is forwarded: text messages (a string, or content parts of type `text`), tool calls and
tool results in OpenAI's shape, function tools, and sampling parameters within the role's limits. Anything else
is an `InvalidRequest` that names the field. Above all no image, file or audio part: litellm would fetch its
address from the host, so a sandbox could make the host reach any address it chose. A field set to null counts
as absent, and the null fields OpenAI's SDK leaves on the assistant messages it returns are dropped, so an
agent can append an answer to its conversation as it got it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opendgm.llm.errors import InvalidRequest

_TEXT_ONLY = "only text is forwarded: the host never fetches an address a sandbox chose"
_INT64 = 2**63


@dataclass(frozen=True)
class ChatRequest:
    """A request that passed: its messages and sampling parameters, as they go to the Router."""

    messages: list[dict[str, Any]]
    params: dict[str, Any]


def parse(body: object, completion_cap: int) -> ChatRequest:
    """The forwardable part of a decoded request body, token counts lowered to `completion_cap` (the role's)."""
    fields = _present(_object(body, "request body"))
    messages = fields.pop("messages", None)
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: must be a non-empty list of messages")
    for key in ("model", "user"):  # the token decides the model; the host knows who asks
        _optional(fields.pop(key, None), key, _string)
    if fields.pop("stream", None) not in (None, False):
        raise InvalidRequest("stream: streaming is not offered by the gateway")
    if fields.pop("n", None) not in (None, 1):
        raise InvalidRequest("n: one completion per request (n = 1)")
    unknown = sorted(set(fields) - _PARAMS.keys())
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: unsupported field; supported: messages, {', '.join(sorted(_PARAMS))}")
    params = {key: _PARAMS[key](value, key) for key, value in fields.items()}
    for key in ("max_tokens", "max_completion_tokens"):
        if key in params:  # an agent may ask for less than its role allows, never for more
            params[key] = min(params[key], completion_cap)
    return ChatRequest([_message(m, f"messages[{i}]") for i, m in enumerate(messages)], params)


# -- JSON shapes -------------------------------------------------------------------------------------------


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}: must be a JSON object, got {type(value).__name__}")
    return value


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields that are set: a null field counts as absent."""
    return {key: value for key, value in fields.items() if value is not None}


def _exactly(value: object, where: str, keys: set[str]) -> dict[str, Any]:
    fields = _present(_object(value, where))
    if set(fields) != keys:
        odd = sorted(set(fields) ^ keys)[0]
        raise InvalidRequest(f"{where}.{odd}: {'missing' if odd in keys else 'unsupported field'}")
    return fields


def _known(fields: dict[str, Any], checks: dict[str, Callable[[Any, str], Any]], where: str) -> None:
    for key, field_value in fields.items():
        if key not in checks:
            raise InvalidRequest(f"{where}.{key}: unsupported field; allowed: {', '.join(checks)}")
        checks[key](field_value, f"{where}.{key}")


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest(f"{where}: must be a list, got {type(value).__name__}")
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}: must be a string, got {type(value).__name__}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(f"{where}: must be true or false, got {value!r}")
    return value


def _function_type(value: object, where: str) -> None:
    if value != "function":
        raise InvalidRequest(f"{where}: only function tools are forwarded, got {value!r}")


def _optional(value: Any, where: str, check: Callable[[Any, str], Any]) -> Any:
    return None if value is None else check(value, where)


# -- messages ----------------------------------------------------------------------------------------------


def _message(value: object, where: str) -> dict[str, Any]:
    fields = _object(value, where)
    role = fields.get("role")
    if not isinstance(role, str) or role not in _MESSAGE_FIELDS:
        raise InvalidRequest(f"{where}.role: must be one of {', '.join(_MESSAGE_FIELDS)}, got {role!r}")
    allowed = _MESSAGE_FIELDS[role]
    message: dict[str, Any] = {}
    for key, field_value in fields.items():
        if key in allowed:
            message[key] = allowed[key](field_value, f"{where}.{key}")
        elif field_value not in (None, [], {}):
            raise InvalidRequest(f"{where}.{key}: unsupported field in a {role} message; allowed: {', '.join(allowed)}")
    # An assistant's null content stays as the agent sent it (OpenAI's shape of a message with tool calls).
    message = {k: v for k, v in message.items() if v is not None or (role == "assistant" and k == "content")}
    if role == "assistant" and message.get("content") is None and not message.get("tool_calls"):
        raise InvalidRequest(f"{where}: an assistant message needs content or tool_calls")
    if role != "assistant" and "content" not in message:
        raise InvalidRequest(f"{where}.content: required in a {role} message")
    if role == "tool" and "tool_call_id" not in message:
        raise InvalidRequest(f"{where}.tool_call_id: a tool result names the call it answers")
    return message


def _content(value: object, where: str) -> str | list[dict[str, str]]:
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        raise InvalidRequest(f"{where}: must be a string or a non-empty list of text parts")
    return [_text_part(part, f"{where}[{i}]") for i, part in enumerate(value)]


def _text_part(value: object, where: str) -> dict[str, str]:
    part = _object(value, where)
    kind = part.get("type")
    if kind != "text":
        raise InvalidRequest(f"{where}: content parts of type {kind!r} are not forwarded; {_TEXT_ONLY}")
    extra = sorted(set(part) - {"type", "text"})
    if extra:
        raise InvalidRequest(f"{where}.{extra[0]}: a text part has only `type` and `text`; {_TEXT_ONLY}")
    return {"type": "text", "text": _string(part.get("text"), f"{where}.text")}


def _tool_calls(value: object, where: str) -> list[dict[str, Any]]:
    return [_tool_call(call, f"{where}[{i}]") for i, call in enumerate(_list(value, where))]


def _tool_call(value: object, where: str) -> dict[str, Any]:
    call = _exactly(value, where, {"id", "type", "function"})
    _function_type(call["type"], f"{where}.type")
    function = _exactly(call["function"], f"{where}.function", {"name", "arguments"})
    return {
        "id": _string(call["id"], f"{where}.id"),
        "type": "function",
        "function": {
            "name": _string(function["name"], f"{where}.function.name"),
            "arguments": _string(function["arguments"], f"{where}.function.arguments"),
        },
    }


_NAME = {"name": lambda v, w: _optional(v, w, _string)}
_MESSAGE_FIELDS: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    "system": {"role": lambda v, w: v, "content": _content, **_NAME},
    "developer": {"role": lambda v, w: v, "content": _content, **_NAME},
    "user": {"role": lambda v, w: v, "content": _content, **_NAME},
    "assistant": {
        "role": lambda v, w: v,
        "content": lambda v, w: _optional(v, w, _content),
        "tool_calls": lambda v, w: _optional(v, w, _tool_calls),
        **_NAME,
    },
    "tool": {"role": lambda v, w: v, "content": _content, "tool_call_id": lambda v, w: _optional(v, w, _string)},
}


# -- tools and sampling ------------------------------------------------------------------------------------


def _tools(value: object, where: str) -> list[dict[str, Any]]:
    return [_tool(tool, f"{where}[{i}]") for i, tool in enumerate(_list(value, where))]


def _tool(value: object, where: str) -> dict[str, Any]:
    tool = _exactly(value, where, {"type", "function"})
    _function_type(tool["type"], f"{where}.type")
    function = _present(_object(tool["function"], f"{where}.function"))
    checks: dict[str, Callable[[Any, str], Any]] = {
        "name": _string,
        "description": _string,
        "parameters": _object,
        "strict": _bool,
    }
    _known(function, checks, f"{where}.function")
    if "name" not in function:
        raise InvalidRequest(f"{where}.function.name: required")
    return {"type": "function", "function": function}


def _tool_choice(value: object, where: str) -> str | dict[str, Any]:
    if value in ("none", "auto", "required"):
        return value
    choice = _exactly(value, where, {"type", "function"})
    _function_type(choice["type"], f"{where}.type")
    function = _exactly(choice["function"], f"{where}.function", {"name"})
    return {"type": "function", "function": {"name": _string(function["name"], f"{where}.function.name")}}


def _response_format(value: object, where: str) -> dict[str, Any]:
    fmt = _present(_object(value, where))
    kind = fmt.get("type")
    if kind in ("text", "json_object"):
        _known(fmt, {"type": _string}, where)
        return fmt
    if kind != "json_schema":
        raise InvalidRequest(f"{where}.type: must be text, json_object or json_schema, got {kind!r}")
    _known(fmt, {"type": _string, "json_schema": _object}, where)
    schema = _present(_object(fmt.get("json_schema"), f"{where}.json_schema"))
    _known(
        schema, {"name": _string, "description": _string, "schema": _object, "strict": _bool}, f"{where}.json_schema"
    )
    return fmt


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"{where}: must be a positive integer, got {value!r}")
    return value


def _number(low: float, high: float) -> Callable[[Any, str], float]:
    def check(value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise InvalidRequest(f"{where}: must be a number from {low:g} to {high:g}, got {value!r}")
        return value

    return check


def _seed(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
        raise InvalidRequest(f"{where}: must be a 64-bit integer, got {value!r}")
    return value


def _stop(value: object, where: str) -> str | list[str]:
    if isinstance(value, str):
        return value
    stops = _list(value, where)
    if len(stops) > 4:
        raise InvalidRequest(f"{where}: at most 4 stop sequences, got {len(stops)}")
    return [_string(stop, f"{where}[{i}]") for i, stop in enumerate(stops)]


_PARAMS: dict[str, Callable[[Any, str], Any]] = {
    "max_tokens": _count,
    "max_completion_tokens": _count,
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "presence_penalty": _number(-2, 2),
    "frequency_penalty": _number(-2, 2),
    "seed": _seed,
    "stop": _stop,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "parallel_tool_calls": _bool,
    "response_format": _response_format,
}
