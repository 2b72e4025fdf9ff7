"""One work item's page: what it is, its working file to download, before/after previews, and the retoucher's
release, extend and hand-back (:mod:`surfaces.actions.queue`, as `postline queue ...`). Item ids in URLs are
checked against the signed-in person; file names on disk never come from the browser. The upload is streamed
to disk under a byte limit (:mod:`surfaces.web_upload`) before the hand-back checks it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from config.errors import Forbidden, NotFound, Refused, Retryable
from config.settings import get_settings
from config.text import cleaned
from qc.results import ResultRefused
from record import marks, queue, selection
from record.db import transaction
from record.models import Order, Person, Photo, WorkItem, WorkStatus
from surfaces import web_upload
from surfaces import web_views as views
from surfaces.actions import queue as actions
from surfaces.web_deps import STALE_FORM, Form, ImageViewer, Session, SignedIn, SignInFirst, page, to, web, who
from surfaces.web_errors import RecordId
from surfaces.web_images import preview_jpeg
from surfaces.web_session import Sessions, WebSession

router = APIRouter(prefix="/items/{item_id}")


def load(item_id: int, person: Person, *, work: bool) -> tuple[WorkItem, Photo | None, Order | None]:
    """The item (``work``: if ``person`` may work on it, else if they may see it), its photo and order."""
    with transaction() as db:
        item = (views.workable_item if work else views.visible_item)(db, item_id, person)
        return item, db.get(Photo, item.photo_id), db.get(Order, item.order_id)


def item_page(request: Request, session: WebSession, item_id: int, *, status: int = 200,
              problems: list[str] | None = None) -> Response:
    person = session.person
    item, photo, order = load(item_id, person, work=False)
    with transaction() as db:
        note = views.rework_note(db, item)
        marked = marks.marks_on(db, item.id)
        client_note = selection.client_notes(db, [item]).get(item.id)
        claimed_at = views.item_rows(db, [item])[0].claimed_at
        mine = views.can_work(db, item, person)
    earlier = actions.earlier_hand_back(item)
    return page(request, "item.html", session, status=status, item=item, photo=photo, order=order, mine=mine,
                handed_round=earlier.round if earlier else None,
                handed_by=("you" if earlier.claimed_by == person.name else earlier.claimed_by) if earlier else None,
                problems=problems or [], rework=note, marks=marked, client_note=client_note, claimed_at=claimed_at,
                lease=queue.lease_expiry(item), max_mb=web(request).settings.max_upload_mb,
                submitted=item.status is WorkStatus.SUBMITTED)


@router.get("")
def item_view(request: Request, item_id: RecordId, session: Session, _person: SignedIn) -> Response:
    return item_page(request, session, item_id)


@router.get("/working")
def download(item_id: RecordId, person: SignedIn) -> Response:
    item, photo, _ = load(item_id, person, work=True)
    source = Path(item.input_path or "")
    if not source.is_file():
        raise Refused(f"The working file of item {item.id} is missing on the server; tell the lead.")
    media = "image/jpeg" if source.suffix.lower() in (".jpg", ".jpeg") else "image/tiff"
    return FileResponse(source, media_type=media, filename=views.download_name(item, photo, source))


@router.get("/handed-back")
def download_handed_back(item_id: RecordId, person: SignedIn) -> Response:
    """For a photo sent back to the stage: the hand-back of the round before, to go on from."""
    item, photo, _ = load(item_id, person, work=True)
    earlier = actions.earlier_hand_back(item)
    if earlier is None:
        raise NotFound(f"Item {item_id} has no earlier hand-back of its stage: download the working file.")
    source = Path(earlier.output_path or "")
    if not source.is_file():
        raise Refused(f"The hand-back of round {earlier.round} of item {item.id}'s photo is missing on the server; "
                      "tell the lead.")
    name = Path(views.download_name(item, photo, source))
    return FileResponse(source, media_type="image/tiff", filename=f"{name.stem}-handed-back{name.suffix}")


@router.get("/{which}.jpg")
def preview(item_id: RecordId, which: Literal["before", "after"], person: ImageViewer) -> Response:
    item, _, _ = load(item_id, person, work=False)
    path = {"before": item.input_path, "after": item.output_path}[which]
    if not path:
        raise NotFound(f"Item {item_id} has no {which} image yet.")
    try:
        data = preview_jpeg(Path(path))
    except (OSError, ValueError, ResultRefused) as exc:
        raise Refused(f"The {which} image of item {item_id} cannot be shown ({exc}).") from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"})


@router.post("/release")
async def release(item_id: RecordId, posted: Form) -> Response:
    reason = cleaned(posted.form.get("reason", ""))[:300] or None

    def do() -> None:
        load(item_id, posted.person, work=True)
        actions.release(item_id=item_id, person=posted.person.name, reason=reason)
    await run_in_threadpool(do)
    return to("/?note=released")


@router.post("/extend")
async def extend(item_id: RecordId, posted: Form) -> Response:
    def do() -> None:
        load(item_id, posted.person, work=True)
        actions.extend(item_id=item_id, person=posted.person.name)
    await run_in_threadpool(do)
    return to(f"/items/{item_id}?note=extended")


@router.post("/submit")
async def submit(request: Request, item_id: RecordId) -> Response:
    """The hand-back: the upload streamed to a folder of its own, then :func:`surfaces.actions.queue.hand_back`.
    A result that fails its checks is shown on the item's page with every problem (422)."""
    settings = web(request).settings
    limit = settings.max_upload_mb * 1024 * 1024
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + web_upload.FORM_OVERHEAD:
        raise web_upload.TooLarge(_too_big(settings.max_upload_mb))      # said before a byte of it is read
    session = await run_in_threadpool(who, request)
    if session.person is None:
        raise SignInFirst(expired=True)
    person = session.person
    item, photo, _ = await run_in_threadpool(load, item_id, person, work=True)
    try:
        folder = Path(await run_in_threadpool(tempfile.mkdtemp, "", "upload-", _upload_dir()))
    except OSError as exc:
        raise Retryable(_cannot_store(exc)) from None
    path, chosen = None, ""
    try:
        received = await web_upload.receive(request, folder / "upload", file_field="result", limit=limit)
        if not Sessions.csrf_ok(session, received.fields.get("csrf")):
            raise Forbidden(STALE_FORM)
        if not received.size:
            return await run_in_threadpool(
                item_page, request, session, item_id, status=422,
                problems=["No file was chosen: pick your edited TIFF or JPEG, then hand it back."])
        path = (folder / "upload").rename(folder / _result_name(item, photo, received.head))
        chosen = received.filename
        result = await run_in_threadpool(lambda: actions.hand_back(item_id=item_id, person=person.name, file=path))
    except web_upload.TooLarge:
        raise web_upload.TooLarge(_too_big(settings.max_upload_mb)) from None
    except ClientDisconnect:
        return Response(status_code=400)      # the browser went away mid-upload: nobody to answer
    except ResultRefused as exc:        # said of the file the retoucher chose, not of the name it was kept under
        problems = [p.replace(path.name, chosen) for p in exc.problems] if path and chosen else exc.problems
        return await run_in_threadpool(item_page, request, session, item_id, status=422, problems=problems)
    except OSError as exc:
        raise Retryable(_cannot_store(exc)) from None
    finally:
        await run_in_threadpool(shutil.rmtree, folder, True)
    return to(f"/items/{item_id}" + ("?note=run-stopped" if result.stage_done and result.run_stopped else ""))


def _too_big(max_mb: int) -> str:
    return f"The file is larger than {max_mb} MB, the most this page takes."


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
