"""The web page (FastAPI + Jinja2, server-rendered; two small scripts, the originals' grid's keys and the QC review
page's marks and keys): the app, put together from one router per page, each route thin over
:mod:`surfaces.actions` (what the command line calls too):

- :mod:`surfaces.web_signin`: signing in and out;
- :mod:`surfaces.web_queues`: the queues page and claiming the next photo;
- :mod:`surfaces.web_items`: one work item: download, previews, release, extend, hand back;
- :mod:`surfaces.web_lead`: a lead's order page;
- :mod:`surfaces.web_qc`: the QC review page of an order: the photos, their findings, the decision;
- :mod:`surfaces.web_originals`: the senior photographer's grid for the review of the originals;
- :mod:`surfaces.web_client`: the client's pages, opened by a signed link: their gallery, download, a preview.

Who a request is, the signed-in person and a lead are dependencies (:mod:`surfaces.web_deps`), read from the
record on every request (:mod:`surfaces.web_session`). POST forms carry the session's CSRF token. Every
response carries the security headers, and what cannot be answered is an HTML error page: one of postline's
errors with the HTTP status its kind has (:func:`surfaces.web_errors.status_of`), anything else as
:mod:`surfaces.web_errors` says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from config.errors import PostlineError
from config.settings import get_settings
from record.links import UNKNOWN, LinkRefused
from surfaces import web_client, web_errors, web_items, web_lead, web_originals, web_qc, web_queues, web_signin
from surfaces import web_views as views
from surfaces.web_deps import SignInFirst, Web, page, to, who
from surfaces.web_session import Sessions, SignInLimiter, WebSettings, load_secret

HERE = Path(__file__).parent
logger = logging.getLogger("postline.web")


def create_app(*, settings: WebSettings | None = None, clock: Callable[[], float] = time.time) -> FastAPI:
    """The web app over the production record of the current settings (POSTLINE_HOME)."""
    settings = settings or WebSettings()
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(when=views.when, age=views.age, stage_title=views.stage_title)
    app = FastAPI(title="postline", docs_url=None, redoc_url=None, openapi_url=None)
    key = load_secret(settings, get_settings().home)
    app.state.web = Web(settings=settings, key=key, templates=templates, clock=clock,
                        sessions=Sessions(key, hours=settings.session_hours, clock=clock),
                        limiter=SignInLimiter.from_settings(settings, clock))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def error_page(request: Request, status: int, message: str) -> Response:
        """An error page that does not need the record (it also answers when the record is what failed). A client's
        address that is not one (cut short, changed, asked the wrong way) gets the client's page, as a link that
        does not open does: not the staff's, with its queues and sign-in."""
        if web_client.for_clients(request) and status < 500:
            if request.url.path.endswith(".jpg"):
                return Response(status_code=status)
            return web_client.client_page(request, "client_refused.html", status, message=UNKNOWN)
        title = "Something went wrong" if status >= 500 else "No such page" if status == 404 else "Not possible"
        return templates.TemplateResponse(request, "error.html", {"csrf": "", "person": None, "note": None,
                                                                  "message": message, "title": title},
                                          status_code=status)

    web_errors.install(app, error_page)

    @app.exception_handler(SignInFirst)
    async def _sign_in_first(_request: Request, exc: SignInFirst) -> Response:
        if exc.bare:
            return Response(status_code=401)
        return to("/signin?note=expired" if exc.expired else "/signin")  # the sign-in page says why

    @app.exception_handler(LinkRefused)
    async def _link_refused(request: Request, exc: LinkRefused) -> Response:
        return web_client.refused(request, exc)

    @app.exception_handler(PostlineError)
    async def _refused(request: Request, exc: PostlineError) -> Response:
        status = web_errors.status_of(exc)
        if status == 500:        # the server's own set-up is broken: said in its log, not to the browser
            logger.error("%s %s failed: %s", request.method, request.url.path, exc)
            return error_page(request, 500, web_errors.CRASHED)
        if web_client.for_clients(request):     # a client's page: no sign-in, no staff's page around it
            return web_client.client_page(request, "client_refused.html", status, message=str(exc))
        session = await run_in_threadpool(who, request)
        return page(request, "error.html", session, status=status, message=str(exc))

    @app.get("/favicon.ico", include_in_schema=False)
    def _no_icon() -> Response:      # asked by every browser, a client's too: not the staff's "no such page"
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

    for router in (web_signin.router, web_queues.router, web_items.router, web_lead.router, web_qc.router,
                   web_originals.router, web_client.router):
        # Each page's routes are added to the app itself, not through include_router: FastAPI 0.150 keeps an
        # included router's routes out of app.routes, which the tests walk to fuzz every route.
        for route in router.routes:
            app.add_api_route(route.path, route.endpoint, methods=sorted(route.methods), name=route.name)
    return app
