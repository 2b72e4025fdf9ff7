"""The client's pages, reached by a signed link (record/links.py) and no sign-in: their gallery (``/g/<token>``:
pick favourites and album photos, a note per photo, send; later, ask for changes), their download (``/d/<token>``:
the delivery's zip, resumable with HTTP Range) and a photo's preview (``/p/<token>``, and small:
``/p/<token>/small.jpg``). Thin over
:mod:`surfaces.actions.client`.

A link with a PIN shows a PIN form first; the right PIN leaves a cookie proving it for that link (signed,
HttpOnly, SameSite=Lax). The link's secret token in the address is what makes a post the client's: another
site cannot know it (and never learns it from a Referer: Referrer-Policy same-origin). A link that does not open
(changed, expired, withdrawn, a wrong PIN, too many of them) is a page saying so, with its HTTP status
(surfaces/web_errors.py's table): never a stack trace.
"""

from __future__ import annotations

import hashlib
import json
import math
import pathlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from config.settings import get_settings
from config.text import cleaned
from qc.gates import DecisionError
from record.rounds import RevisionError
from qc.selection import MAX_NOTE
from record import links
from record.models import ClientLink, LinkPurpose
from surfaces.actions import client as actions
from surfaces.web_deps import to, web
from surfaces.web_download import download_response
from surfaces.web_errors import RecordId, status_of
from surfaces.web_images import PREVIEW_LONG_EDGE, SMALL_LONG_EDGE, preview_jpeg, shrunk, thumbnail

router = APIRouter()
Token = Annotated[str, Path(min_length=10, max_length=links.MAX_TOKEN, pattern=r"^[A-Za-z0-9_.\-]+$")]
PIN_COOKIE = "postline_pin_{}"
MAX_PHOTOS = 5000


def for_clients(request: Request) -> bool:
    """Whether the request is for one of the client's pages (which have no staff around them)."""
    return request.url.path[:3] in ("/g/", "/d/", "/p/")


def now_of(request: Request) -> datetime:
    return datetime.fromtimestamp(web(request).clock(), UTC)


def opened(request: Request, token: str, purpose: LinkPurpose) -> ClientLink:
    """The link, if it opens and its PIN (if any) was given in this browser; else a refusal (record/links.py)."""
    key = web(request).key
    link = actions.open_link(key, token, purpose, now=now_of(request))
    if link.pin_hash and not links.proves_pin(key, link, request.cookies.get(PIN_COOKIE.format(link.id))):
        raise links.PinNeeded("This link asks for the PIN the studio gave you.")
    return link


def client_page(request: Request, template: str, status: int = 200, **context) -> Response:
    settings = get_settings()
    context = {"studio": settings.studio_name, "contact": settings.studio_email} | context
    return web(request).templates.TemplateResponse(request, template, context, status_code=status)


def refused(request: Request, exc: links.LinkRefused) -> Response:
    """A link that does not open: the PIN form again (a page's address, a PIN asked or wrong or paused), else a page
    saying why; a picture's address gets the bare status."""
    status = status_of(exc)
    if request.url.path.endswith(".jpg"):
        return Response(status_code=status)
    if isinstance(exc, (links.PinNeeded, links.WrongPin, links.PinLocked)):
        response = client_page(request, "client_pin.html", status, message=str(exc),   # posted to the link itself
                               asked=isinstance(exc, links.PinNeeded), action=request.url.path.removesuffix("/ready"))
    else:
        response = client_page(request, "client_refused.html", status, message=str(exc))
    if isinstance(exc, links.PinLocked):
        response.headers["Retry-After"] = str(max(1, math.ceil((exc.until - now_of(request)).total_seconds())))
    return response


async def pin_given(request: Request, token: str, purpose: LinkPurpose) -> Response:
    """The PIN form's post: the right PIN leaves its proof in a cookie and goes back to the link's page."""
    form = await request.form(max_files=0, max_fields=5, max_part_size=1024)
    pin = str(form.get("pin", "")).strip()[:64]
    parts = web(request)
    link = await run_in_threadpool(actions.give_pin, parts.key, token, purpose, pin, now=now_of(request))
    # a download's page: what the PIN opened, with its button (the ZIP at the link's own address would leave the
    # PIN form on the screen, the download arriving unannounced)
    response = to(request.url.path + ("/ready" if purpose is LinkPurpose.DOWNLOAD else ""))
    if link.pin_hash:
        lasts = max(1, math.floor((links.expiry(link) - now_of(request)).total_seconds()))
        response.set_cookie(PIN_COOKIE.format(link.id), links.pin_proof(parts.key, link), max_age=lasts, path="/",
                            httponly=True, samesite="lax",
                            secure=parts.settings.secure_cookie or request.url.scheme == "https")
    return response


# --- the gallery ----------------------------------------------------------------------------------------------

def gallery_page(request: Request, token: str, link: ClientLink, *, status: int = 200, error: str | None = None,
                 given: dict | None = None, confirm: str | None = None, digest: str = "") -> Response:
    view = actions.gallery(link.order_id)
    return client_page(request, "gallery.html", status, view=view, token=token, error=error, given=given or {},
                       sent=request.query_params.get("sent"), expires=links.expiry(link), confirm=confirm, digest=digest,
                       download=actions.download_of(link.order_id, web(request).key) if view.mode is actions.GalleryMode.DELIVERED
                       else None)


@router.api_route("/g/{token}", methods=["GET", "HEAD"])
def gallery(request: Request, token: Token) -> Response:
    link = opened(request, token, LinkPurpose.GALLERY)
    return gallery_page(request, token, link)


@router.get("/g/{token}/selection")
@router.get("/g/{token}/changes")
def back_to_the_gallery(request: Request, token: Token) -> Response:
    """The address a refused send leaves in the browser, loaded again (a reload, a restored tab): the gallery."""
    return to(request.url.path.rsplit("/", 1)[0])


@router.post("/g/{token}")
async def gallery_pin(request: Request, token: Token) -> Response:
    return await pin_given(request, token, LinkPurpose.GALLERY)


@router.get("/g/{token}/photos/{photo_id}.jpg")
def gallery_photo(request: Request, token: Token, photo_id: RecordId) -> Response:
    link = opened(request, token, LinkPurpose.GALLERY)
    return FileResponse(actions.gallery_image(link.order_id, photo_id), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})


SENT_ALREADY = ("Your selection was sent already (or there is nothing to choose now): this one was not sent. What "
                "we have is below.")


async def _form(request: Request):  # noqa: ANN202 - starlette's FormData
    return await request.form(max_files=0, max_fields=6 * MAX_PHOTOS + 10, max_part_size=64 * 1024)


def _rows(form) -> dict[str, dict]:  # noqa: ANN001 - starlette's FormData
    """The gallery form's rows, by photo: each row names its photo (``photo-N``) and carries its ticks and note."""
    rows = {}
    for index in range(MAX_PHOTOS):
        if f"photo-{index}" not in form:
            break
        rows[str(form[f"photo-{index}"])] = {"favourite": f"fav-{index}" in form, "album": f"album-{index}" in form,
                                             "black_and_white": f"bw-{index}" in form,
                                             "change": f"change-{index}" in form,
                                             "note": cleaned(form.get(f"note-{index}", ""))}
    return rows


def _check_notes(rows: dict[str, dict]) -> None:
    """A note longer than the page's box takes is refused, not cut (a client's request must reach the retoucher
    whole)."""
    long = [name for name, row in rows.items() if len(row["note"]) > MAX_NOTE]
    if long:
        raise DecisionError(f"Your note on {', '.join(long)} is longer than {MAX_NOTE} characters: nothing was sent. "
                            "Shorten it and send again.")


def _favourites(rows: dict[str, dict]) -> list[dict]:
    """The favourites of the gallery's form (an album photo is one too, and so is a photo asked for in black and
    white); a note on a photo not marked is refused: it would reach nobody."""
    marked = lambda row: row["favourite"] or row["album"] or row["black_and_white"]  # noqa: E731
    stray = [name for name, row in rows.items() if row["note"] and not marked(row)]
    if stray:
        raise DecisionError(f"You wrote a note on {', '.join(stray)} without marking it as a favourite: notes go to "
                            "the retoucher, who works on your favourites only. Mark it, or clear the note.")
    return [{"photo": name, "album": row["album"], "black_and_white": row["black_and_white"], "note": row["note"]}
            for name, row in rows.items() if marked(row)]


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def selection_digest(rows: dict[str, dict]) -> str:
    """What the form's marks are, in 16 characters: the confirmation's Yes carries the digest of the marks it was
    shown for, so marks changed on the page after it was asked are asked about again, not sent unseen."""
    marks = sorted((name, row["favourite"], row["album"], row["black_and_white"], row["note"])
                   for name, row in rows.items())
    return hashlib.sha256(json.dumps(marks).encode()).hexdigest()[:16]


def selection_said(favourites: list[dict]) -> str:
    """What a selection holds, in the client's words (what they are asked to confirm)."""
    extra = [f"{sum(f['album'] for f in favourites)} for your album"] if any(f["album"] for f in favourites) else []
    if grey := sum(f["black_and_white"] for f in favourites):
        extra.append(f"{grey} also in black and white")
    if noted := sum(bool(f["note"]) for f in favourites):
        extra.append(_plural(noted, "with a note", "with notes"))
    said = _plural(len(favourites), "favourite") if favourites else "no favourites among these photos"
    return said + (f" ({', '.join(extra)})" if extra else "")


@router.post("/g/{token}/selection")
async def send_selection(request: Request, token: Token) -> Response:
    """The gallery's form, sent: first a page asking the client to confirm what it holds (a selection is sent once:
    an Enter in the form, a tap on the button, must not send it), then, confirmed, the selection itself."""
    link = await run_in_threadpool(opened, request, token, LinkPurpose.GALLERY)
    form = await _form(request)
    rows = _rows(form)
    view = await run_in_threadpool(actions.gallery, link.order_id)
    try:
        _check_notes(rows)
        if view.mode is not actions.GalleryMode.SELECTING:
            raise DecisionError(SENT_ALREADY)
        if sorted(rows) != sorted(p.name for p in view.photos):
            raise DecisionError("The photos in this gallery changed since you opened it: nothing was sent. Look at "
                                "them again below and send your selection once more.")
        favourites = _favourites(rows)
        if form.get("confirmed") != selection_digest(rows):      # not asked yet, or marks changed since
            await run_in_threadpool(lambda: actions.check_selection(link.order_id, favourites=favourites,
                                                                    client=view.client, shown=list(rows)))
            return await run_in_threadpool(lambda: gallery_page(request, token, link, given=rows,
                                                                confirm=selection_said(favourites),
                                                                digest=selection_digest(rows)))
        await run_in_threadpool(lambda: actions.submit_selection(link.order_id, favourites=favourites,
                                                                 client=view.client, shown=list(rows)))
    except (DecisionError, ValidationError) as exc:
        message = str(exc) if isinstance(exc, DecisionError) else "; ".join(e["msg"] for e in exc.errors())
        now = await run_in_threadpool(actions.gallery, link.order_id)
        if view.mode is actions.GalleryMode.SELECTING and now.mode is not actions.GalleryMode.SELECTING:
            message = SENT_ALREADY       # another send (a second tab, a double click) was taken a moment before
        return await run_in_threadpool(lambda: gallery_page(request, token, link, status=422, error=message,
                                                            given=rows))
    return to(f"{request.url.path.removesuffix('/selection')}?sent=selection")


@router.post("/g/{token}/changes")
async def send_changes(request: Request, token: Token) -> Response:
    link = await run_in_threadpool(opened, request, token, LinkPurpose.GALLERY)
    rows = _rows(await _form(request))
    view = await run_in_threadpool(actions.gallery, link.order_id)
    changes = [(name, row["note"]) for name, row in rows.items() if row["change"]]
    grey = [name for name, row in rows.items() if row["black_and_white"]]
    try:
        _check_notes(rows)
        if view.mode is not actions.GalleryMode.DELIVERED:
            raise DecisionError("Changes can be asked for once your photos are delivered: nothing was sent.")
        if not set(rows) <= {p.name for p in view.photos}:
            raise DecisionError("The photos in this gallery changed since you opened it: nothing was sent.")
        if changes and not view.by_hand:       # no person works a stage: the photo would come back as it was
            raise DecisionError(actions.write_to_us("Changes are made on request: nothing was sent."))
        if stray := [name for name, row in rows.items() if row["note"] and not row["change"]]:
            raise DecisionError(f"You wrote what to change on {', '.join(stray)} without ticking Change this photo: "
                                "tick it, or clear what you wrote. Nothing was sent.")
        if not changes and not grey:
            raise DecisionError("Nothing was ticked: " + (
                "tick Change this photo on a photo and say what to change" if view.by_hand else
                "tick Also in black & white on a photo") + ", then send.")
        if silent := [name for name, note in changes if not note]:
            raise DecisionError(f"Say what to change on {', '.join(silent)}: nothing was sent.")
        waiting = {p.name for p in view.photos if p.unchanged}
        if pending := [name for name, _ in changes if name in waiting]:
            raise DecisionError(f"The change you asked for before on {', '.join(pending)} is not made yet: we are "
                                "on it, and will write to you. Untick it to send the rest; nothing was sent.")
        if grey and not changes:
            await run_in_threadpool(lambda: actions.ask_black_and_white(link.order_id, grey, client=view.client))
        else:
            try:
                await run_in_threadpool(lambda: actions.request_changes(link.order_id, changes=changes,
                                                                        client=view.client, in_black_and_white=grey))
            except RevisionError:      # a photo that left the delivery since the page was made: the studio's words
                raise DecisionError("One of the photos you ticked cannot take a change now (it changed since this "
                                    "page was opened): nothing was sent. Look at the gallery again, or write to "
                                    "us.") from None
    except DecisionError as exc:
        return await run_in_threadpool(lambda: gallery_page(request, token, link, status=422, error=str(exc),
                                                            given=rows))
    return to(f"{request.url.path.removesuffix('/changes')}?sent=changes")


# --- the download and the preview -----------------------------------------------------------------------------

@router.api_route("/d/{token}", methods=["GET", "HEAD"])
def download(request: Request, token: Token) -> Response:
    """The delivery package as one ZIP, made as it is served (tasks/download.py), whole or by a byte range
    (surfaces/web_download.py: a download that stopped resumes)."""
    link = opened(request, token, LinkPurpose.DOWNLOAD)
    download = actions.client_download(link.order_id)
    return download_response(request, download, actions.download_name(link.order_id, download.name),
                             {"Cache-Control": "private, no-transform"})


@router.get("/d/{token}/ready")
def download_page(request: Request, token: Token) -> Response:
    """The download's page (where the right PIN leads): what is ready, its size, and the button."""
    link = opened(request, token, LinkPurpose.DOWNLOAD)
    download = actions.client_download(link.order_id)
    return client_page(request, "client_download.html", token=token, size_mb=download.size / 1e6,
                       expires=links.expiry(link))


@router.post("/d/{token}")
async def download_pin(request: Request, token: Token) -> Response:
    return await pin_given(request, token, LinkPurpose.DOWNLOAD)


PREVIEW_HEADERS = {"Cache-Control": "private, max-age=300"}


def thumbs(order_id: int) -> pathlib.Path:
    """Where an order's small pictures are kept (made once each)."""
    return get_settings().work_dir / f"order-{order_id}" / "thumbs"


@router.get("/p/{token}")
def preview(request: Request, token: Token) -> Response:
    link = opened(request, token, LinkPurpose.PREVIEW)
    path, original = actions.preview_of(link)
    if original:    # a RAW file: its embedded preview (or a reduced decode)
        return FileResponse(thumbnail(path, thumbs(link.order_id), PREVIEW_LONG_EDGE), media_type="image/jpeg",
                            headers=PREVIEW_HEADERS)
    return Response(preview_jpeg(path), media_type="image/jpeg", headers=PREVIEW_HEADERS)


@router.get("/p/{token}/small.jpg")
def preview_small(request: Request, token: Token) -> Response:
    """The preview's picture at most SMALL_LONG_EDGE px, made once and kept: a gate's form in the Prefect UI shows
    up to 48 at their natural size (qc/gates.pictures). The same signed link opens it, and nothing else: its size
    is the route's, not the caller's."""
    link = opened(request, token, LinkPurpose.PREVIEW)
    path, original = actions.preview_of(link)
    small = (thumbnail if original else shrunk)(path, thumbs(link.order_id), SMALL_LONG_EDGE)
    return FileResponse(small, media_type="image/jpeg", headers=PREVIEW_HEADERS)


@router.post("/p/{token}")
async def preview_pin(request: Request, token: Token) -> Response:
    return await pin_given(request, token, LinkPurpose.PREVIEW)
