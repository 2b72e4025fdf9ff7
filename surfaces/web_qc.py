"""The QC review page of an order (``/orders/{order_id}/qc``, leads only): every photo waiting for the QC lead's
decision as a picture, before beside after, the automatic findings drawn on the after (clipped pixels, the regions
a check measured), a 100% view of any part of it, and the decision from the keyboard, a rejection with a marked
region. The decision goes through :func:`surfaces.actions.gates.decide` (as `postline qc decide` and the Prefect
UI's form do); once given, the page says what was applied, and the form is gone. Below, the photos QC held after
the allowed rework, each passed as it is or sent back a round (as `postline qc held` does)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from config.errors import NotFound, Refused
from qc.gates import DecisionError
from qc.results import ResultRefused
from qc.review import QC, QcDecision, Region, ReviewReason, remade_said
from record import rounds, work
from record.rounds import HeldError
from record.db import transaction
from record.models import QC_GATE, Photo, PhotoStatus, WorkItem
from surfaces import web_qc_pictures as pictures
from surfaces.actions import gates
from surfaces.web_deps import ImageViewer, LeadForm, Session, lead, page
from surfaces.web_errors import RecordId
from surfaces.web_images import preview_jpeg
from surfaces.web_lead import OrderLead
from surfaces.web_session import WebSession

router = APIRouter(prefix="/orders/{order_id}/qc")
IMAGE_CACHE = {"Cache-Control": "private, max-age=300"}


@dataclass(frozen=True)
class Card:
    """One photo waiting for the decision, as the page shows it. Its findings (figures, the regions a check
    measured) come once it is in view (:func:`findings_json`): finding faces takes a second or two a photo, and the
    page of a 300-photo order waited minutes for all of them before it showed anything."""
    index: int
    name: str
    item_id: int
    before: pictures.Before
    send_back_to: str       # the stage chosen to send it back to (record.rounds.redo_stage)


@dataclass(frozen=True)
class Applied:
    """What a decision did, photo by photo, as the page says it."""
    passed: tuple[str, ...]
    sent_back: tuple[tuple[str, str, str, str, str], ...]     # photo, stage title, reason, note, region described
    remade: str = ""                                           # what a send-back that changes nothing does (qc.review)


def cards(order_id: int) -> list[Card]:
    with transaction() as db:
        waiting = QC.waiting(db, order_id)
        befores = {name: pictures.before_of(db, item) for name, item in waiting.items()}
        redo = {name: rounds.redo_stage(db, item) for name, item in waiting.items()}
    return [Card(index, name, item.id, befores[name], redo[name])
            for index, (name, item) in enumerate(sorted(waiting.items()))]


@dataclass(frozen=True)
class HeldCard:
    """A photo QC held after the allowed rework, as the page shows it: its last check at the gate, and why."""
    index: int
    name: str
    item_id: int            # its last QC gate item: the pictures of what the gate checked
    why: str


def held_cards(order_id: int) -> list[HeldCard]:
    with transaction() as db:
        held = work.photos(db, order_id, PhotoStatus.HELD)
        last = {photo.id: db.exec(select(WorkItem.id).where(WorkItem.photo_id == photo.id, WorkItem.stage == QC_GATE)
                                  .order_by(col(WorkItem.id).desc())).first() for photo in held}
    return [HeldCard(index, photo.source_name, last[photo.id], photo.reason or "held by QC")
            for index, photo in enumerate(sorted(held, key=lambda p: p.source_name)) if last[photo.id] is not None]


def chosen_of(form: dict) -> dict[str, dict[str, str]]:
    """What a lead chose on the page's form, photo by photo (``photo-N`` -> its reason, stage, note, region and
    outline): a decision refused (the run busy, the Prefect server away a moment, a region to mark again) shows the
    page again with every choice as it was, not all of them back on "pass"."""
    chosen = {}
    for index in range(len(form)):
        if f"photo-{index}" not in form:
            break
        chosen[str(form[f"photo-{index}"])] = {key: str(form.get(f"{key}-{index}", ""))[:2000]
                                               for key in ("reason", "stage", "note", "region", "outline")}
    return chosen


def review_page(request: Request, session: WebSession, order_id: int, *, status: int = 200,
                error: str | None = None, done: str | None = None, applied: Applied | None = None,
                held_done: str | None = None, chosen: dict[str, dict[str, str]] | None = None) -> Response:
    with transaction() as db:
        try:
            order = work.get_order(db, order_id)
        except work.NotFound:
            raise work.NotFound(f"There is no order {order_id}.") from None
        line = work.order_line(db, order_id)
    stages = [(s.key, s.title + (" (automatic: comes back as it went)" if line.remade_alike(s.key) else ""))
              for s in line.stages]
    return page(request, "qc.html", session, status=status, order=order, error=error, done=done, applied=applied,
                cards=[] if done else cards(order_id), reasons=[r.value for r in ReviewReason], stages=stages,
                held=held_cards(order_id), held_done=held_done, chosen=chosen or {})


@router.get("")
def review_view(request: Request, order_id: RecordId, session: Session, _lead: OrderLead) -> Response:
    return review_page(request, session, order_id)


@router.post("")
async def qc_decide(request: Request, order_id: RecordId, posted: LeadForm) -> Response:
    session = posted.session
    try:
        waiting = await run_in_threadpool(gates.pending, QC, order_id)
        decision = decision_of(posted.form, waiting, posted.person.name)
        done = await run_in_threadpool(gates.decide, order_id, decision)
    except ValidationError as exc:
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return await run_in_threadpool(review_page, request, session, order_id, status=422, error=message,
                                       chosen=chosen_of(posted.form))
    except DecisionError as exc:
        return await run_in_threadpool(review_page, request, session, order_id, status=422, error=str(exc),
                                       chosen=chosen_of(posted.form))
    applied = await run_in_threadpool(applied_of, order_id, decision, waiting)
    return await run_in_threadpool(review_page, request, session, order_id, done=done, applied=applied)


@router.post("/held")
async def held_decide(request: Request, order_id: RecordId, posted: LeadForm) -> Response:
    """A lead's decision on one held photo: pass it as it is, or send it back a round to a stage with a note
    (:func:`surfaces.actions.gates.decide_held`, as `postline qc held` gives it)."""
    form, session = posted.form, posted.session
    photo, action = str(form.get("photo", "")), str(form.get("action", ""))
    if action not in ("pass", "send"):
        return await run_in_threadpool(review_page, request, session, order_id, status=422,
                                       error="Choose to pass the held photo or to send it back.")
    send_back = [(photo, str(form.get("stage", "")), str(form.get("note", ""))[:500])] if action == "send" else []
    try:
        done = await run_in_threadpool(lambda: gates.decide_held(order_id, passes=[photo] if action == "pass" else [],
                                                                 send_back=send_back, lead=posted.person.name))
    except HeldError as exc:
        return await run_in_threadpool(review_page, request, session, order_id, status=422, error=str(exc))
    return await run_in_threadpool(review_page, request, session, order_id, held_done=done)


def decision_of(form: dict, waiting: list[str], lead_name: str) -> QcDecision:
    """The QC decision of the page's form. Each row names its photo (``photo-N``): the photos the lead saw must be
    the ones waiting now, or the page is out of date and nothing is decided. A row's ``region-N`` is the marked
    box, ``x,y,w,h`` in fractions of the frame (``outline-N``: a freehand region's points inside it, ``x,y x,y
    ...``); it goes with a rejection only."""
    rows = []
    for index in range(len(form)):
        if f"photo-{index}" not in form:
            break
        rows.append({"photo": str(form[f"photo-{index}"]), "reason": str(form.get(f"reason-{index}", "pass")),
                     "send_back_to": str(form.get(f"stage-{index}", "")),
                     "note": str(form.get(f"note-{index}", ""))[:500],
                     "region": _region(str(form.get(f"region-{index}", "")), str(form.get(f"outline-{index}", "")),
                                       str(form[f"photo-{index}"]))})
    if sorted(row["photo"] for row in rows) != sorted(waiting):
        raise DecisionError("The photos waiting for review changed since this page was loaded (or the "
                            "form is incomplete): nothing was decided. Look at them again below.")
    no_reason = [row["photo"] for row in rows if not row["reason"]]
    if no_reason:
        raise DecisionError(f"Choose the reason to send back {', '.join(no_reason)} (each rejection is counted by "
                            "its reason), or pass it. Nothing was decided.")
    marked_pass = [row["photo"] for row in rows if row["reason"] == "pass" and row["region"]]
    if marked_pass:
        raise DecisionError(f"A marked region goes with a rejection: {', '.join(marked_pass)} would pass with one. "
                            "Choose a reason to send it back, or clear the region. Nothing was decided.")
    return QC.build(listed=[row for row in rows if row["reason"] != "pass"], by=lead_name)


def _region(text: str, outline: str, photo: str) -> Region | None:
    """The marked region of a row: its box ``x,y,w,h`` and, for a freehand one, its outline ``x,y x,y ...``."""
    if not text.strip():
        return None
    try:
        return Region.parse(text, outline)
    except ValueError as exc:
        raise DecisionError(f"The region marked on {photo} ({text[:60]!r}) is not a box inside the photo "
                            f"({str(exc)[:160]}): mark it again. Nothing was decided.") from None


def applied_of(order_id: int, decision: QcDecision, waiting: list[str]) -> Applied:
    with transaction() as db:
        line = work.order_line(db, order_id)
    titles = {s.key: s.title for s in line.stages}
    rejected = {r.photo for r in decision.rejections}
    remade = [r.photo for r in decision.rejections if line.remade_alike(r.send_back_to)]
    return Applied(passed=tuple(sorted(name for name in waiting if name not in rejected)),
                   sent_back=tuple((r.photo, titles[r.send_back_to], r.reason.value.replace("_", " "), r.note,
                                    r.region.described() if r.region else "") for r in decision.rejections),
                   remade=remade_said(remade) if remade else "")


# --- pictures ------------------------------------------------------------------------------------------------------

def _gate_file(order_id: int, item_id: int, which: str, person) -> Path:  # noqa: ANN001 - record.models.Person
    lead(person)
    with transaction() as db:
        item = pictures.gate_item(db, order_id, item_id)
        path = item.input_path if which == "after" else pictures.before_of(db, item).path
        name = db.get(Photo, item.photo_id).source_name
    if not path or not Path(path).is_file():
        raise NotFound(f"{name} has no {which} picture to show.")
    return Path(path)


def _refused(which: str, item_id: int, exc: Exception) -> Refused:
    return Refused(f"The {which} picture of photo {item_id} at the QC gate cannot be shown ({exc}).")


@router.get("/{item_id}/{which}.jpg")
def picture(order_id: RecordId, item_id: RecordId, which: Literal["before", "after"], person: ImageViewer) -> Response:
    path = _gate_file(order_id, item_id, which, person)
    try:
        return Response(preview_jpeg(path), media_type="image/jpeg", headers=IMAGE_CACHE)
    except (OSError, ValueError, ResultRefused) as exc:
        raise _refused(which, item_id, exc) from None


@router.get("/{item_id}/{which}/zoom.jpg")
def zoom(order_id: RecordId, item_id: RecordId, which: Literal["before", "after"], person: ImageViewer,
         x: Annotated[float, Query(ge=0, le=1)] = 0.5, y: Annotated[float, Query(ge=0, le=1)] = 0.5,
         w: Annotated[int, Query(ge=16, le=pictures.ZOOM_MAX)] = 800,
         h: Annotated[int, Query(ge=16, le=pictures.ZOOM_MAX)] = 500) -> Response:
    """A 100% view of the picture around (x, y), fractions of its frame."""
    path = _gate_file(order_id, item_id, which, person)
    try:
        return Response(pictures.zoom_jpeg(path, x, y, w, h), media_type="image/jpeg", headers=IMAGE_CACHE)
    except (OSError, ValueError, ResultRefused) as exc:
        raise _refused(which, item_id, exc) from None


@router.get("/{item_id}/findings.json")
def findings_json(order_id: RecordId, item_id: RecordId, person: ImageViewer) -> Response:
    """The after's automatic findings, as the page draws them once the photo is in view: its figures with the
    checks' limits, and the regions a check measured (``box``: x, y, w, h in fractions of the frame)."""
    path = _gate_file(order_id, item_id, "after", person)
    with transaction() as db:
        spec = work.order_line(db, order_id).qc_gate
    try:
        seen = pictures.findings_of(path, spec)
        notes, regions = list(seen.notes), [{"label": r.label, "box": list(r.box)} for r in seen.regions]
    except (OSError, ValueError, ResultRefused) as exc:
        notes, regions = [f"the automatic findings cannot be shown ({exc})"], []
    return JSONResponse({"notes": notes, "regions": regions}, headers=IMAGE_CACHE)


@router.get("/{item_id}/clipped.png")
def clipped(order_id: RecordId, item_id: RecordId, person: ImageViewer) -> Response:
    """The after's clipped pixels, over its preview: blown red, crushed blue."""
    path = _gate_file(order_id, item_id, "after", person)
    with transaction() as db:
        spec = work.order_line(db, order_id).qc_gate
    try:
        return Response(pictures.clipped_png(pictures.findings_of(path, spec, faces=False)), media_type="image/png",
                        headers=IMAGE_CACHE)
    except (OSError, ValueError, ResultRefused) as exc:
        raise _refused("after", item_id, exc) from None
