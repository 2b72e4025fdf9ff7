"""What every response of the web page carries, and the pages it answers with when something is wrong.

Security headers go on every response, error pages included: a middleware adds them to whatever the app
sends, and the 500 page (sent from outside the middleware stack, by Starlette's ServerErrorMiddleware) adds
them itself. Anything the app cannot answer is an HTML page, never a stack trace or a JSON detail: an unknown
address or an id that cannot exist (too large, not a number) is "no such page" (404), a database that cannot
be read or written is 503, anything else 500.

An error of postline's own (config/errors.py) is answered with the status :func:`status_of` gives its kind, in
one table (:data:`HTTP_STATUS`), the way the command line gives exit codes (surfaces/cli/errors.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.errors import Forbidden, Invalid, NotFound, Permanent, Refused, Retryable
from config.line import LineFileError
from record import links
from surfaces.web_upload import BadForm, TooLarge

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
MAX_ID = 2 ** 63 - 1     # the largest id a record can hold
RecordId = Annotated[int, Path(ge=1, le=MAX_ID)]   # an id in a URL; any other is no page at all (404), not an error
NO_STORE = "no-store"      # pages show a person's work: never kept by the browser or a proxy, unless a route says so

logger = logging.getLogger("postline.web")

CRASHED = ("Something went wrong on the server and this request was not finished. Tell whoever runs the "
           "postline server: its log says what.")
HTTP_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (LineFileError, 500),  # the server's line file is broken: not the request's fault
    (links.LinkExpired, 410), (links.LinkRevoked, 410),   # a client's link that was good once
    (links.PinNeeded, 401), (links.PinLocked, 429),       # its PIN first; too many wrong ones
    (TooLarge, 413),       # an upload past POSTLINE_WEB_MAX_UPLOAD_MB
    (BadForm, 400),        # not the form the page sends
    (NotFound, 404),       # no such order, work item, person
    (Invalid, 422),        # a value or a decision that does not fit
    (Forbidden, 403),      # not this person's to do (another's claim, a skill they lack, a lead's page)
    (Refused, 409),        # cannot be done now (the photo moved on, another run holds the order)
    (Permanent, 422),      # a result file that fails its checks
    (Retryable, 503),      # the machine (the Prefect server, a disk) failed: try again
)


def status_of(exc: Exception) -> int:
    """The HTTP status of one of postline's errors (500 for anything else)."""
    return next((status for kind, status in HTTP_STATUS if isinstance(exc, kind)), 500)


def secure(headers: MutableHeaders) -> None:
    for name, value in HEADERS.items():
        headers[name] = value
    headers.setdefault("Cache-Control", NO_STORE)


class SecurityHeaders:
    """ASGI middleware: :data:`HEADERS` (and Cache-Control: no-store unless set) on every HTTP response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                secure(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_secured)


GONE = "There is no such page here. Check the address, or start again from the queues."
MESSAGES = {
    404: GONE,
    405: "That page cannot be used this way: start again from the queues.",
}


def install(app: FastAPI, error_page: Callable[[Request, int, str], Response]) -> None:
    """Security headers on every response, and HTML error pages made by ``error_page(request, status, message)``
    (which must not need the record: it also answers when the record is what failed)."""
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        fallback = exc.detail if exc.status_code == 400 else "That request cannot be answered."
        message = MESSAGES.get(exc.status_code, fallback)
        return error_page(request, exc.status_code, str(message))

    @app.exception_handler(RequestValidationError)
    async def _unparsable(request: Request, _exc: RequestValidationError) -> Response:
        return error_page(request, 404, GONE)      # an id that is not a number, or one no record could hold

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        logger.error("the production record failed on %s %s: %s", request.method, request.url.path, exc.orig)
        response = error_page(request, 503, "The production record could not be read or written just now, so "
                                            "nothing was done. Try again in a minute; if it keeps happening, tell "
                                            "whoever runs the postline server (its log says what failed).")
        response.headers["Retry-After"] = "60"
        return response

    @app.exception_handler(Exception)
    async def _crash(request: Request, _exc: Exception) -> Response:
        response = error_page(request, 500, CRASHED)
        secure(response.headers)    # sent by ServerErrorMiddleware, outside SecurityHeaders
        return response
