"""The retoucher web page's routes (FastAPI + Jinja2, server-rendered, no JavaScript).

Every action goes through the same functions as the CLI, :mod:`surfaces.actions.queue`: claiming (expired
claims reaped first), handing back (checks, hand-back, the next stage's item and the order's flow run woken),
releasing and extending. Who a request
is comes from the record on every request (:mod:`surfaces.web_session`); item ids in URLs are checked against
the signed-in person; file names on disk never come from the browser. POST forms carry the session's CSRF
token. Uploads are streamed to disk under a byte limit (:mod:`surfaces.web_upload`); every response carries
the security headers, and what cannot be answered is an HTML error page (:mod:`surfaces.web_errors`).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from config.settings import get_settings
from qc.results import ResultRefused, WorkingFileUnreadable
from record import people, queue
from record.db import transaction
from record.models import Order, Person, Photo, SignInEnd, WorkItem, WorkStatus
from surfaces import web_errors, web_upload
from surfaces import web_views as views
from surfaces.web_errors import RecordId
from surfaces.web_images import preview_jpeg
from surfaces.web_session import COOKIE, Lockout, Sessions, SignInLimiter, WebSession, WebSettings, load_secret

HERE = Path(__file__).parent
NOTES = {  # messages shown after a redirect, chosen by code: no text from the URL reaches the page
    "empty": "Nothing is waiting in that queue right now.",
    "released": "Released: the photo is back in its queue.",
    "extended": "Your lease started again.",
    "signed-out": "You are signed out.",
    "expired": "Your session ran out: sign in again.",
    "password-changed": "Your password was changed: sign in again.",
}
ENDED = {SignInEnd.PASSWORD_CHANGED: NOTES["password-changed"], SignInEnd.SIGNED_OUT: NOTES["signed-out"]}


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _refusal(exc: Exception) -> Refused:
    """One of postline's errors as what the page says, with its HTTP status (surfaces/web_errors.py)."""
    return Refused(web_errors.status_of(exc), str(exc))


def create_app(*, settings: WebSettings | None = None, clock: Callable[[], float] = time.time) -> FastAPI:
    """The web app over the production record of the current settings (POSTLINE_HOME)."""
    from config.line import get_line
    from surfaces.actions import queue as actions
    from surfaces.actions.queue import human_stages

    settings = settings or WebSettings()
    sessions = Sessions(load_secret(settings, get_settings().home), hours=settings.session_hours, clock=clock)
    limiter = SignInLimiter.from_settings(settings, clock)
    max_bytes = settings.max_upload_mb * 1024 * 1024
    too_big = f"The file is larger than {settings.max_upload_mb} MB, the most this page takes."
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(when=views.when, age=views.age, stage_title=views.stage_title)
    app = FastAPI(title="postline", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # --- sessions ---------------------------------------------------------------------------------------------

    def who(request: Request) -> WebSession:
        """The request's session, read from the record once per request (a bad cookie is a visitor)."""
        if not hasattr(request.state, "session"):
            request.state.session = sessions.of(request.cookies.get(COOKIE))
        return request.state.session

    def finish(request: Request, response: Response, session: WebSession | None) -> Response:
        """Send ``session``'s cookie with ``response`` if the session is new."""
        if session is not None and session.new:
            response.set_cookie(COOKIE, sessions.cookie(session), max_age=max(1, round(session.expires - clock())),
                                httponly=True, samesite="lax", path="/",
                                secure=settings.secure_cookie or request.url.scheme == "https")
        return response

    def page(request: Request, template: str, session: WebSession, status: int = 200, **context) -> Response:
        context = {"csrf": session.csrf, "person": session.person,
                   "note": NOTES.get(request.query_params.get("note", ""))} | context
        return finish(request, templates.TemplateResponse(request, template, context, status_code=status), session)

    def to(url: str) -> Response:
        return RedirectResponse(url, status_code=303)

    def error_page(request: Request, status: int, message: str) -> Response:
        """An error page that does not need the record (it also answers when the record is what failed)."""
        title = "Something went wrong" if status >= 500 else "No such page" if status == 404 else "Not possible"
        return templates.TemplateResponse(request, "error.html", {"csrf": "", "person": None, "note": None,
                                                                  "message": message, "title": title},
                                          status_code=status)

    web_errors.install(app, error_page)

    async def posted(request: Request) -> tuple[WebSession, Person, dict]:
        """The signed-in person of a POST whose form carries the session's CSRF token; else Refused."""
        session = await run_in_threadpool(who, request)
        form = await request.form(max_files=0, max_fields=50, max_part_size=64 * 1024)
        if session.person is None:
            raise Refused(401, NOTES["expired"])
        if not sessions.csrf_ok(session, form.get("csrf")):
            raise Refused(403, "This form is stale or did not come from this page (CSRF check failed): "
                               "reload the page and try again.")
        return session, session.person, dict(form)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        if exc.status == 401:     # the sign-in page says why (it sees an ended sign-in in the cookie)
            return to("/signin?note=expired")
        session = await run_in_threadpool(who, request)
        return page(request, "error.html", session, status=exc.status, message=exc.message)

    # --- signing in and out -------------------------------------------------------------------------------------

    @app.get("/signin")
    def signin_form(request: Request) -> Response:
        session = who(request)
        if session.person is not None:
            return to("/")
        said = {"note": ENDED[session.ended]} if session.ended else {}   # why the cookie no longer signs in
        return page(request, "signin.html", session, **said)

    @app.post("/signin")
    async def signin(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10, max_part_size=64 * 1024)
        session = await run_in_threadpool(who, request)
        if not sessions.csrf_ok(session, form.get("csrf")):
            raise Refused(403, "The sign-in form is stale (CSRF check failed): reload the page and sign in again.")
        name, password = str(form.get("name", "")).strip().lower()[:100], str(form.get("password", ""))[:1000]
        if not (name and password):
            return page(request, "signin.html", session, status=401, name=name, error="Wrong name or password.")
        address = request.client.host if request.client else "unknown"
        lockout = limiter.attempt(name, address)
        if lockout is not None:        # the password is not even looked at: guessing cannot go on
            response = page(request, "signin.html", session, status=429, name=name,
                            error=_locked_out(lockout, name, clock()))
            response.headers["Retry-After"] = str(max(1, math.ceil(lockout.until - clock())))
            return response

        def check() -> Person | None:
            with transaction() as db:
                return people.authenticate(db, name=name, password=password)

        person = await run_in_threadpool(check)
        if person is None:
            return page(request, "signin.html", session, status=401, name=name, error="Wrong name or password.")
        limiter.succeeded(name, address)
        return finish(request, to("/"), await run_in_threadpool(sessions.sign_in, person))

    @app.post("/signout")
    async def signout(request: Request) -> Response:
        session, _, _ = await posted(request)
        return finish(request, to("/signin?note=signed-out"), await run_in_threadpool(sessions.sign_out, session))

    def signed_in(request: Request) -> tuple[WebSession, Person] | None:
        session = who(request)
        return (session, session.person) if session.person is not None else None

    # --- the queues -----------------------------------------------------------------------------------------------

    @app.get("/")
    def home(request: Request) -> Response:
        session = who(request)
        if session.person is None:
            return to("/signin")
        person = session.person
        line = get_line()
        with transaction() as db:
            stages = views.stage_rows(db, person, line_stages=[(s.key, s.title) for s in line.stages],
                                      people_stages=human_stages())
            mine = views.item_rows(db, queue.mine(db, person.name))
            claims = views.item_rows(db, views.all_claims(db)) if views.is_lead(person) else []
            orders = views.open_orders(db) if views.is_lead(person) else []
        return page(request, "queues.html", session, stages=stages, mine=mine, claims=claims,
                    orders=orders, lead=views.is_lead(person), lease_of=queue.lease_expiry)

    @app.post("/claim")
    async def claim(request: Request) -> Response:
        _, person, form = await posted(request)
        stage = str(form.get("stage", ""))
        try:
            item = await run_in_threadpool(lambda: actions.claim(person=person.name, stage=stage))
        except (queue.QueueError, people.UnknownPerson) as exc:
            raise _refusal(exc) from None
        return to(f"/items/{item.id}" if item else "/?note=empty")

    # --- one item ---------------------------------------------------------------------------------------------------

    def load(item_id: int, person: Person, *, work: bool) -> tuple[WorkItem, Photo | None, Order | None]:
        try:
            with transaction() as db:
                item = (views.workable_item if work else views.visible_item)(db, item_id, person)
                return item, db.get(Photo, item.photo_id), db.get(Order, item.order_id)
        except (views.Forbidden, queue.QueueError) as exc:
            raise _refusal(exc) from None

    def item_page(request: Request, session: WebSession, item_id: int, *, status: int = 200,
                  problems: list[str] | None = None) -> Response:
        person = session.person
        item, photo, order = load(item_id, person, work=False)
        with transaction() as db:
            note = views.rework_note(db, item)
            claimed_at = views.item_rows(db, [item])[0].claimed_at
            mine = views.can_work(db, item, person)
        return page(request, "item.html", session, status=status, item=item, photo=photo,
                    order=order, mine=mine, problems=problems or [], rework=note, claimed_at=claimed_at,
                    lease=queue.lease_expiry(item), max_mb=settings.max_upload_mb,
                    submitted=item.status is WorkStatus.SUBMITTED)

    @app.get("/items/{item_id}")
    def item_view(request: Request, item_id: RecordId) -> Response:
        session = who(request)
        if session.person is None:
            return to("/signin")
        return item_page(request, session, item_id)

    @app.get("/items/{item_id}/working")
    def download(request: Request, item_id: RecordId) -> Response:
        session = who(request)
        if session.person is None:
            return to("/signin")
        item, photo, _ = load(item_id, session.person, work=True)
        source = Path(item.input_path or "")
        if not source.is_file():
            raise Refused(409, f"The working file of item {item.id} is missing on the server; tell the lead.")
        media = "image/jpeg" if source.suffix.lower() in (".jpg", ".jpeg") else "image/tiff"
        return FileResponse(source, media_type=media, filename=views.download_name(item, photo, source))

    @app.get("/items/{item_id}/{which}.jpg")
    def preview(request: Request, item_id: RecordId, which: Literal["before", "after"]) -> Response:
        session = who(request)
        if session.person is None:
            return Response(status_code=401)
        item, _, _ = load(item_id, session.person, work=False)
        path = {"before": item.input_path, "after": item.output_path}[which]
        if not path:
            raise Refused(404, f"Item {item_id} has no {which} image yet.")
        try:
            data = preview_jpeg(Path(path))
        except (OSError, ValueError, ResultRefused) as exc:
            raise Refused(409, f"The {which} image of item {item_id} cannot be shown ({exc}).") from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"})

    @app.post("/items/{item_id}/release")
    async def release(request: Request, item_id: RecordId) -> Response:
        _, person, form = await posted(request)
        reason = str(form.get("reason", "")).strip()[:300] or None

        def do() -> None:
            load(item_id, person, work=True)
            actions.release(item_id=item_id, person=person.name, reason=reason)
        try:
            await run_in_threadpool(do)
        except (views.Forbidden, queue.QueueError) as exc:
            raise _refusal(exc) from None
        return to("/?note=released")

    @app.post("/items/{item_id}/extend")
    async def extend(request: Request, item_id: RecordId) -> Response:
        _, person, _ = await posted(request)

        def do() -> None:
            load(item_id, person, work=True)
            actions.extend(item_id=item_id, person=person.name)
        try:
            await run_in_threadpool(do)
        except (views.Forbidden, queue.QueueError) as exc:
            raise _refusal(exc) from None
        return to(f"/items/{item_id}?note=extended")

    @app.post("/items/{item_id}/submit")
    async def submit(request: Request, item_id: RecordId) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes + web_upload.FORM_OVERHEAD:
            raise Refused(413, too_big)          # said before a byte of it is read
        session = await run_in_threadpool(who, request)
        if session.person is None:
            raise Refused(401, NOTES["expired"])
        person = session.person
        item, photo, _ = await run_in_threadpool(load, item_id, person, work=True)
        try:
            folder = Path(await run_in_threadpool(tempfile.mkdtemp, "", "upload-", _upload_dir()))
        except OSError as exc:
            raise Refused(503, _cannot_store(exc)) from None
        try:
            received = await web_upload.receive(request, folder / "upload", file_field="result", limit=max_bytes)
            if not sessions.csrf_ok(session, received.fields.get("csrf")):
                raise Refused(403, "This form is stale or did not come from this page (CSRF check failed): "
                                   "reload the page and try again.")
            if not received.size:
                return await run_in_threadpool(
                    item_page, request, session, item_id, status=422,
                    problems=["No file was chosen: pick your edited TIFF or JPEG, then hand it back."])
            path = (folder / "upload").rename(folder / _result_name(item, photo, received.head))
            await run_in_threadpool(lambda: actions.hand_back(item_id=item_id, person=person.name, file=path))
        except web_upload.TooLarge:
            raise Refused(413, too_big) from None
        except web_upload.BadForm as exc:
            raise Refused(400, str(exc)) from None
        except ClientDisconnect:
            return Response(status_code=400)      # the browser went away mid-upload: nobody to answer
        except ResultRefused as exc:
            return await run_in_threadpool(item_page, request, session, item_id, status=422, problems=exc.problems)
        except (views.Forbidden, queue.QueueError, WorkingFileUnreadable) as exc:
            raise _refusal(exc) from None
        except OSError as exc:
            raise Refused(503, _cannot_store(exc)) from None
        finally:
            await run_in_threadpool(shutil.rmtree, folder, True)
        return to(f"/items/{item_id}")

    from surfaces.web_lead import add_lead_routes

    add_lead_routes(app, posted=posted, signed_in=signed_in, page=page, to=to)
    return app


def _locked_out(lockout: Lockout, name: str, now: float) -> str:
    """What the sign-in page says to a paused name or address: why, and from when to try again."""
    minute = datetime.fromtimestamp(math.ceil(lockout.until / 60) * 60, UTC)
    minutes = max(1, math.ceil((lockout.until - now) / 60))
    who = f"for {name!r}" if lockout.by == "name" else "from this computer's address"
    return (f"Too many wrong passwords {who}: sign-in is paused. Try again after {views.when(minute)} "
            f"(in {minutes} minute{'s' if minutes != 1 else ''}).")


def _upload_dir() -> Path:
    path = get_settings().home / "web-uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _result_name(item: WorkItem, photo: Photo | None, head: bytes) -> str:
    """The name an upload is kept under, made here (``<item>-<photo>-<stage>-r<round>-result.<tif|jpg>``), the
    type sniffed from its first bytes, not the browser's word."""
    suffix = ".tif" if head[:2] in (b"II", b"MM") else ".jpg" if head[:3] == b"\xff\xd8\xff" else ".bin"
    return views.download_name(item, photo, Path("x" + suffix)).removesuffix(suffix) + "-result" + suffix


def _cannot_store(exc: OSError) -> str:
    return (f"The server could not store your upload ({exc.strerror or exc}): nothing was handed back. Tell "
            "whoever runs the postline server (is its disk full?), then try again.")
