"""What every route of the web page depends on (FastAPI ``Depends``): who the request is, the signed-in person,
a lead, a posted form that carries the session's CSRF token; and how a page is answered (a template, with the
session's cookie when it is new). The app's parts (sessions, limiter, templates, settings, clock) are made once
by :func:`surfaces.web_app.create_app` and kept on ``app.state.web``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from config.errors import Forbidden
from record.models import Person, SignInEnd
from surfaces import web_views as views
from surfaces.web_session import COOKIE, Sessions, SignInLimiter, WebSession, WebSettings

NOTES = {  # messages shown after a redirect, chosen by code: no text from the URL reaches the page
    "empty": "Nothing is waiting in that queue right now.",
    "released": "Released: the photo is back in its queue.",
    "extended": "Your lease started again.",
    "run-stopped": ("Handed back. That was the last photo of its stage, but the order's run stopped: a lead starts "
                    "it again (postline order run), and your work is kept."),
    "signed-out": "You are signed out.",
    "expired": "Your session ran out: sign in again.",
    "password-changed": "Your password was changed: sign in again.",
}
ENDED = {SignInEnd.PASSWORD_CHANGED: NOTES["password-changed"], SignInEnd.SIGNED_OUT: NOTES["signed-out"]}
MAX_FORM_FIELDS = 4000   # the QC review page's form: six fields a photo, for orders of several hundred photos
STALE_FORM = ("This form is stale or did not come from this page (CSRF check failed): reload the page and try "
              "again.")


@dataclass(frozen=True)
class Web:
    """The web page's parts, made once per app."""
    settings: WebSettings
    key: bytes                  # the installation's secret: signs the sessions' cookies and checks client links
    sessions: Sessions
    limiter: SignInLimiter
    templates: Jinja2Templates
    clock: Callable[[], float]


class SignInFirst(Exception):
    """The request needs a signed-in person and has none: to the sign-in page (``expired``: saying the session ran
    out, for a form posted after it did), or a bare 401 (``bare``: an image)."""

    def __init__(self, *, expired: bool = False, bare: bool = False):
        super().__init__("sign in first")
        self.expired, self.bare = expired, bare


def web(request: Request) -> Web:
    return request.app.state.web


def who(request: Request) -> WebSession:
    """The request's session, read from the record once per request (a bad cookie is a visitor)."""
    if not hasattr(request.state, "session"):
        request.state.session = web(request).sessions.of(request.cookies.get(COOKIE))
    return request.state.session


def signed_in(session: Annotated[WebSession, Depends(who)]) -> Person:
    """The signed-in person; a visitor is sent to the sign-in page."""
    if session.person is None:
        raise SignInFirst()
    return session.person


def signed_in_bare(session: Annotated[WebSession, Depends(who)]) -> Person:
    """The signed-in person; a visitor gets a bare 401 (an image has no page to send them to)."""
    if session.person is None:
        raise SignInFirst(bare=True)
    return session.person


def lead(person: Annotated[Person, Depends(signed_in)]) -> Person:
    if not views.is_lead(person):
        raise views.Forbidden("Only a lead can see orders and give QC decisions.")
    return person


@dataclass(frozen=True)
class Posted:
    """A form posted by a signed-in person, its CSRF token checked."""
    session: WebSession
    person: Person
    form: dict


async def posted(request: Request) -> Posted:
    session = await run_in_threadpool(who, request)
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=64 * 1024)
    if session.person is None:
        raise SignInFirst(expired=True)
    if not Sessions.csrf_ok(session, form.get("csrf")):
        raise Forbidden(STALE_FORM)
    return Posted(session, session.person, dict(form))


def lead_posted(form: Annotated[Posted, Depends(posted)]) -> Posted:
    lead(form.person)
    return form


Session = Annotated[WebSession, Depends(who)]
SignedIn = Annotated[Person, Depends(signed_in)]
ImageViewer = Annotated[Person, Depends(signed_in_bare)]
Lead = Annotated[Person, Depends(lead)]
Form = Annotated[Posted, Depends(posted)]
LeadForm = Annotated[Posted, Depends(lead_posted)]


# --- answering ---------------------------------------------------------------------------------------------------

def finish(request: Request, response: Response, session: WebSession | None) -> Response:
    """Send ``session``'s cookie with ``response`` if the session is new."""
    if session is not None and session.new:
        parts = web(request)
        response.set_cookie(COOKIE, parts.sessions.cookie(session),
                            max_age=max(1, round(session.expires - parts.clock())), httponly=True, samesite="lax",
                            path="/", secure=parts.settings.secure_cookie or request.url.scheme == "https")
    return response


def page(request: Request, template: str, session: WebSession, status: int = 200, **context) -> Response:
    context = {"csrf": session.csrf, "person": session.person,
               "note": NOTES.get(request.query_params.get("note", ""))} | context
    return finish(request, web(request).templates.TemplateResponse(request, template, context, status_code=status),
                  session)


def to(url: str) -> Response:
    return RedirectResponse(url, status_code=303)
