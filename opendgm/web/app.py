"""The read-only dashboard: a FastAPI app of JSON views over campaign archives, plus its static page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from opendgm.archive import ArchiveError, overview
from opendgm.web import views
from opendgm.web.auth import own_names, token_guard
from opendgm.web.campaigns import Unavailable, reading

STATIC = Path(__file__).parent / "static"


def _errors(app: FastAPI) -> None:
    """Every failure is one JSON line (`{"error": ...}`), never a traceback."""
    statuses: dict[type[Exception], int] = {
        views.NotFound: 404,
        ArchiveError: 404,
        Unavailable: 503,
        Exception: 500,
    }
    for kind, status in statuses.items():

        async def handler(_request: Request, error: Exception, status: int = status) -> JSONResponse:
            return JSONResponse({"error": str(error) or type(error).__name__}, status_code=status)

        app.add_exception_handler(kind, handler)


def create_app(campaigns: dict[str, Path], token: str | None = None, host: str = "127.0.0.1") -> FastAPI:
    """The dashboard over `campaigns` (name -> directory), bound to `host`; with `token`, every request must
    carry it. On a loopback bind it answers only requests addressed to its own names (400 otherwise)."""
    app = FastAPI(title="opendgm dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    _errors(app)
    if token:
        app.middleware("http")(token_guard(token))
    names = own_names(host)
    if names is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=names, www_redirect=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/campaigns")
    def campaign_list() -> list[dict[str, Any]]:
        listed = []
        for name, path in campaigns.items():
            try:
                with reading(campaigns, name) as archive:
                    listed.append({"name": name, "path": str(path), "campaign": archive.campaign, "error": None})
            except Unavailable as error:
                listed.append({"name": name, "path": str(path), "campaign": None, "error": str(error)})
        return listed

    trees = {(name, with_x): views.TreeCache(with_x) for name in campaigns for with_x in (True, False)}

    @app.get("/api/{campaign}/tree", response_class=JSONResponse)
    def tree(campaign: str, x: bool = True) -> Response:
        """Serialised here, not by FastAPI's encoder (which walks 10^6 values one by one), and kept while the
        archive is unchanged; the tree never reads agents' code, so the open skips the code check. `x=false`
        leaves out the server's layout column (the browser lays the tree out itself)."""
        with reading(campaigns, campaign, check_code=False) as archive:
            return Response(trees[campaign, x].tree_json(archive), media_type="application/json")

    @app.get("/api/{campaign}/node/{node_id}")
    def node(campaign: str, node_id: str) -> dict[str, Any]:
        with reading(campaigns, campaign) as archive:
            return views.node(archive, node_id)

    @app.get("/api/{campaign}/overview")
    def campaign_overview(campaign: str) -> dict[str, Any]:
        with reading(campaigns, campaign, check_code=False) as archive:
            return overview(archive)

    @app.get("/api/{campaign}/node/{node_id}/diff")
    def diff(campaign: str, node_id: str, against: str = "parent") -> dict[str, Any]:
        with reading(campaigns, campaign) as archive:
            return views.diff(archive, node_id, against)

    @app.get("/api/{campaign}/node/{node_id}/code")
    def code(campaign: str, node_id: str) -> dict[str, Any]:
        with reading(campaigns, campaign) as archive:
            return views.code(archive, node_id)

    @app.get("/api/{campaign}/node/{node_id}/self_modification")
    def self_modification(campaign: str, node_id: str) -> dict[str, Any]:
        with reading(campaigns, campaign) as archive:
            return views.self_modification(archive, node_id)

    @app.get("/api/{campaign}/node/{node_id}/trajectory/{task_id:path}")
    def trajectory(campaign: str, node_id: str, task_id: str, attempt: int | None = None) -> dict[str, Any]:
        with reading(campaigns, campaign) as archive:
            return views.trajectory(archive, node_id, task_id, attempt)

    @app.get("/api/{campaign}/progress", response_class=JSONResponse)
    def progress(campaign: str) -> Response:
        """Serialised here, as the tree is (FastAPI's encoder would walk every value of 10^5 points one by one),
        the same JSON; progress never reads agents' code, so the open skips the code check."""
        with reading(campaigns, campaign, check_code=False) as archive:
            return JSONResponse(views.progress(archive))

    @app.get("/api/{campaign}/events")
    def events(campaign: str, since: int = 0, tail: int | None = None) -> dict[str, Any]:
        """The page's live poll (every few seconds): no code is read, so the open skips the code check (one git
        lookup of every agent's commit and tree: a second at 5 x 10^4 agents)."""
        with reading(campaigns, campaign, check_code=False) as archive:
            return views.events(archive, since, tail)

    return app
