"""Who may read the dashboard: anyone on loopback; with a token, only requests that carry it.

A token arrives as `Authorization: Bearer`, `X-OpenDGM-Token`, `?token=` (which also sets a cookie so
the page's own requests carry it) or that cookie.

On a loopback bind, a request must also be addressed to one of the dashboard's own names (`own_names`): a web
page whose name an attacker rebinds to 127.0.0.1 (DNS rebinding) reaches the port, but carries its own name as
Host and gets 400. Beyond loopback the token, which such a page does not have, is the guard.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse

COOKIE = "opendgm_token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def own_names(host: str) -> list[str] | None:
    """The Host names a dashboard bound to `host` answers to (any port): the loopback names and the bound address
    itself; None beyond loopback."""
    if not is_loopback(host):
        return None
    bound = f"[{host}]" if ":" in host else host
    return sorted({"localhost", "127.0.0.1", "[::1]", bound.lower()})


def bind_problem(host: str, token: str | None) -> str | None:
    """Why binding to `host` is refused, or None: beyond loopback the archive needs a token."""
    if is_loopback(host) or token:
        return None
    return f"binding to {host} exposes the archive beyond this machine: pass --token (or set OPENDGM_TOKEN)"


def _presented(request: Request) -> str | None:
    bearer = request.headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip()
    return request.headers.get("x-opendgm-token") or request.query_params.get("token") or request.cookies.get(COOKIE)


def token_guard(token: str) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """HTTP middleware answering 401 to every request without the token."""

    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = _presented(request)
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"error": "missing or wrong token"}, status_code=401)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    return guard
