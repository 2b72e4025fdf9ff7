"""The sign-in page: signing in (password checked against the record, guessing slowed by the limiter) and out."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from config.errors import Forbidden
from record import people
from record.db import transaction
from record.models import Person
from surfaces import web_views as views
from surfaces.web_deps import ENDED, Form, Session, finish, page, to, web, who
from surfaces.web_session import Lockout, Sessions

router = APIRouter()


@router.get("/signin")
def signin_form(request: Request, session: Session) -> Response:
    if session.person is not None:
        return to("/")
    said = {"note": ENDED[session.ended]} if session.ended else {}   # why the cookie no longer signs in
    return page(request, "signin.html", session, **said)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10, max_part_size=64 * 1024)
    session = await run_in_threadpool(who, request)
    if not Sessions.csrf_ok(session, form.get("csrf")):
        raise Forbidden("The sign-in form is stale (CSRF check failed): reload the page and sign in again.")
    name, password = str(form.get("name", "")).strip().lower()[:100], str(form.get("password", ""))[:1000]
    if not (name and password):
        return page(request, "signin.html", session, status=401, name=name, error="Wrong name or password.")
    parts = web(request)
    address = request.client.host if request.client else "unknown"
    lockout = parts.limiter.attempt(name, address)
    if lockout is not None:        # the password is not even looked at: guessing cannot go on
        response = page(request, "signin.html", session, status=429, name=name,
                        error=_locked_out(lockout, name, parts.clock()))
        response.headers["Retry-After"] = str(max(1, math.ceil(lockout.until - parts.clock())))
        return response

    def check() -> Person | None:
        with transaction() as db:
            return people.authenticate(db, name=name, password=password)

    person = await run_in_threadpool(check)
    if person is None:
        return page(request, "signin.html", session, status=401, name=name, error="Wrong name or password.")
    parts.limiter.succeeded(name, address)
    return finish(request, to("/"), await run_in_threadpool(parts.sessions.sign_in, person))


@router.post("/signout")
async def signout(request: Request, posted: Form) -> Response:
    ended = await run_in_threadpool(web(request).sessions.sign_out, posted.session)
    return finish(request, to("/signin?note=signed-out"), ended)


def _locked_out(lockout: Lockout, name: str, now: float) -> str:
    """What the sign-in page says to a paused name or address: why, and from when to try again."""
    minute = datetime.fromtimestamp(math.ceil(lockout.until / 60) * 60, UTC)
    minutes = max(1, math.ceil((lockout.until - now) / 60))
    whom = f"for {name!r}" if lockout.by == "name" else "from this computer's address"
    return (f"Too many wrong passwords {whom}: sign-in is paused. Try again after {views.when(minute)} "
            f"(in {minutes} minute{'s' if minutes != 1 else ''}).")
