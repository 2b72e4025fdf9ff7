"""The senior photographer's grid for the review of the originals: every original waiting for review, as the day
went, as a thumbnail with the photographer's own rating (record/ratings.py) and the cull's flags and suggestion
(qc/cull.py), the frames of a burst (or frames alike taken apart) side by side with the best one named, keep or reject
pre-filled as the review is (the ratings, then the suggestion: qc.originals.suggested_culls), changed with the keyboard
(K keep, X reject, arrows move, Space large: static/originals.js, which also keeps the marks in the browser until the
decision is given) or the mouse; the card's files that could not be taken in named above it. The decision goes through the same gate and action as `postline review
decide` and the Prefect UI's form (qc/originals.py, :func:`surfaces.actions.gates.decide`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from config.errors import Forbidden, NotFound
from config.settings import get_settings
from qc import cull
from qc.gates import DecisionError
from qc.originals import ORIGINALS, CullReason, suggested_culls
from record import clocks, ratings, work
from record.db import transaction
from record.models import CullVerdict, Photo, PhotoStatus
from surfaces.actions import gates
from surfaces.web_deps import STALE_FORM, ImageViewer, Session, page
from surfaces.web_errors import RecordId
from surfaces.web_images import THUMB_LONG_EDGE, thumbnail
from surfaces.web_lead import OrderLead, lead
from surfaces.web_session import Sessions, WebSession

router = APIRouter(prefix="/orders/{order_id}/originals")
MAX_FRAMES = 10_000
REASONS = {r.value for r in CullReason}
FLAG_WORDS = {cull.Reason.EYES_CLOSED: "eyes closed", cull.Reason.DUPLICATE: "near-duplicate of a better frame",
              cull.Reason.BURST_NOT_BEST: "not the best of its group"}      # the cull's reasons, as the grid says them
REFUSED_SHOWN = 10           # files of the card that could not be taken in, named on the grid (the rest counted)
LARGE_LONG_EDGE = 1600       # px: the large view of a frame (its camera's embedded preview when that is as large)


@dataclass(frozen=True)
class Frame:
    photo_id: int
    name: str
    reject: bool                 # pre-filled: the photographer's rating, then the suggestion
    reason: str                  # the review's reason a reject is given (the pre-fill's, else 'other')
    rating: str                  # the photographer's, as "★★★, Green" ('' for none)
    flags: tuple[str, ...]       # the cull's reasons, in words
    notes: str
    best: bool                   # the best frame of its burst
    index: int = 0               # its row in the form
    note: str = ""               # the reviewer's note, as they gave it (a decision refused: their page back)


Given = dict[str, tuple[str, str, str]]     # a frame's name: (verdict, reason, note) as a reviewer sent them


@dataclass(frozen=True)
class Group:
    """Frames the cull grouped (qc/cull.py), side by side on the page: a burst (one body's, each frame within the
    line's ``burst_seconds`` of the one before, its clock set right), or frames alike taken apart (near-duplicates:
    other moments, or another body)."""
    frames: list[Frame]
    burst: bool


def _is_burst(photos: list[Photo], shifts: dict, seconds: float) -> bool:
    times = [clocks.taken(p, shifts) for p in photos]
    if len({clocks.camera_of(p) for p in photos}) != 1 or None in times:
        return False
    times.sort()
    return all((b - a).total_seconds() <= seconds for a, b in zip(times, times[1:]))


def frames(order_id: int, *, only_picks: bool = False, given: Given | None = None) -> list[Group | list[Frame]]:
    """The originals waiting for review as the day went, in blocks: a group of the cull's (a burst, or frames alike
    taken apart) where its first frame was taken, and the single frames between groups.
    ``only_picks``: pre-filled to keep only the photographer's picks (`review decide --only-picks`); ``given``:
    what a reviewer sent for each frame, shown instead of the pre-fill (their decision, refused, back to them)."""
    with transaction() as session:
        work.get_order(session, order_id)
        waiting = ORIGINALS.waiting(session, order_id)
        shifts = clocks.shifts(session, order_id)
        in_order = clocks.shooting_order(shifts)
        burst_seconds = work.order_line(session, order_id).cull.burst_seconds
        waiting = dict(sorted(waiting.items(), key=lambda pair: in_order(pair[1])))     # as the day went
        suggestions = {s.photo: s for s in cull.suggest(session, order_id)}
        culls = {c.photo: c for c in suggested_culls(session, order_id, list(waiting),
                                                     cull_unpicked=True if only_picks else None)}
        rated = ratings.of_order(session, order_id)
    groups: dict[int, list[Frame]] = {}
    shot: dict[int, list[Photo]] = {}
    order: list[Frame | int | None] = []           # the page's order: a single frame, or where a group goes
    for name, photo in waiting.items():
        s = suggestions.get(name)
        shown = ratings.describe(rated.get(photo.id))
        frame = Frame(photo_id=photo.id, name=name, reject=name in culls,
                      reason=culls[name].reason.value if name in culls else CullReason.OTHER.value,
                      rating="" if shown == "-" else shown,
                      flags=tuple(FLAG_WORDS.get(r, r.value) for r in s.reasons) if s else (),
                      notes="; ".join(s.notes) if s else "",
                      best=bool(s and s.best and s.group is not None))
        if given and name in given:
            verdict, reason, note = given[name]
            frame = replace(frame, reject=verdict == CullVerdict.REJECT.value, note=note,
                            reason=reason if reason in REASONS else frame.reason)
        if s is not None and s.group is not None:
            order.append(None if s.group in groups else s.group)
            groups.setdefault(s.group, []).append(frame)
            shot.setdefault(s.group, []).append(photo)
        else:
            order.append(frame)
    counter = iter(range(len(waiting)))
    blocks: list[Group | list[Frame]] = []        # as the day went: a group where its first frame was taken
    for frame in (f for f in order if f is not None):
        if isinstance(frame, int):
            blocks.append(Group([replace(f, index=next(counter)) for f in groups[frame]],
                                _is_burst(shot[frame], shifts, burst_seconds)))
            continue
        if not blocks or isinstance(blocks[-1], Group):
            blocks.append([])
        blocks[-1].append(replace(frame, index=next(counter)))
    return blocks


def grid_page(request: Request, session: WebSession, order_id: int, *, status: int = 200, error: str | None = None,
              done: str | None = None, only_picks: bool = False, given: Given | None = None) -> Response:
    with transaction() as db:
        order = work.get_order(db, order_id)
        spec = work.order_line(db, order_id).cull
        picks = spec.ratings and ratings.any_picked(ratings.of_order(db, order_id), spec)
        bodies = clocks.summary(order_id, clocks.cameras(db, order_id))     # None for one camera
        refused = [p.reason if (p.reason or "").startswith(p.source_name) else f"{p.source_name}: {p.reason or ''}"
                   for p in work.photos(db, order_id, PhotoStatus.REJECTED)]
    blocks = frames(order_id, only_picks=only_picks and picks, given=given)
    return page(request, "originals.html", session, status=status, order=order, blocks=blocks,
                given=given is not None, bodies=bodies, clocks_set=bool(bodies and "clocks set right" in bodies), refused=refused[:REFUSED_SHOWN], refused_more=len(refused) - REFUSED_SHOWN,
                reasons=[r.value for r in CullReason], error=error, done=done, keep=CullVerdict.KEEP.value,
                reject=CullVerdict.REJECT.value, picks=picks, only_picks=only_picks and picks)


@router.get("")
def grid(request: Request, order_id: RecordId, session: Session, _lead: OrderLead, only_picks: bool = False) -> Response:
    return grid_page(request, session, order_id, only_picks=only_picks)


@router.get("/{photo_id}.jpg")
def original_thumbnail(order_id: RecordId, photo_id: RecordId, person: ImageViewer) -> Response:
    return _picture(order_id, photo_id, person, THUMB_LONG_EDGE)


@router.get("/{photo_id}/large.jpg")
def original_large(order_id: RecordId, photo_id: RecordId, person: ImageViewer) -> Response:
    """The frame large (Space or a click in the grid), to judge focus and eyes a thumbnail cannot show."""
    return _picture(order_id, photo_id, person, LARGE_LONG_EDGE)


def _picture(order_id: int, photo_id: int, person, long_edge: int) -> Response:  # noqa: ANN001 - a Person
    lead(person)
    with transaction() as db:
        photo = db.get(Photo, photo_id)
    if photo is None or photo.order_id != order_id or not photo.original_path:
        raise NotFound(f"Order {order_id} has no original {photo_id}.")
    cache = get_settings().work_dir / f"order-{order_id}" / "thumbs"
    return FileResponse(thumbnail(Path(photo.original_path), cache, long_edge), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})


@router.post("")
async def decide(request: Request, order_id: RecordId, session: Session, person: OrderLead) -> Response:
    """The grid's decision (a form of a few fields per frame: more than a small form's limit for a wedding's)."""
    form = dict(await request.form(max_files=0, max_fields=5 * MAX_FRAMES + 10, max_part_size=64 * 1024))
    if not Sessions.csrf_ok(session, form.get("csrf")):
        raise Forbidden(STALE_FORM)
    rows = _rows(form)
    try:
        decision = _decision(order_id, rows, await run_in_threadpool(gates.pending, ORIGINALS, order_id), person.name)
        done = await run_in_threadpool(gates.decide, order_id, decision)
    except (ValidationError, DecisionError) as exc:   # refused: the page comes back as they marked it, to send again
        message = str(exc) if isinstance(exc, DecisionError) else "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        given = {name: (verdict, reason, note) for name, verdict, reason, note in rows}
        return await run_in_threadpool(grid_page, request, session, order_id, status=422, error=message, given=given)
    return await run_in_threadpool(grid_page, request, session, order_id, done=done)


def _rows(form: dict) -> list[tuple[str, str, str, str]]:
    """The grid's form, a row per frame: its photo (``photo-N``), ``verdict-N`` keep or reject, ``reason-N`` and
    ``note-N``."""
    rows = []
    for index in range(MAX_FRAMES):
        if f"photo-{index}" not in form:
            break
        rows.append((str(form[f"photo-{index}"]), str(form.get(f"verdict-{index}", CullVerdict.KEEP.value)),
                     str(form.get(f"reason-{index}", CullReason.OTHER.value)), str(form.get(f"note-{index}", ""))[:500]))
    return rows


def _decision(order_id: int, rows: list[tuple[str, str, str, str]], waiting: list[str],  # noqa: ANN202
              reviewer: str):   # qc.originals.OriginalsDecision
    """The review's decision from the grid's rows (:func:`_rows`). The frames shown must be the ones waiting now."""
    if rows and not waiting:
        raise DecisionError(f"No original of order {order_id} waits for review any more: the review was given "
                            f"meanwhile (in another tab, or by another person; `postline status {order_id}` says "
                            "where the order is). Nothing of yours was applied.")
    if sorted(name for name, *_ in rows) != sorted(waiting):
        raise DecisionError("The originals waiting for review changed since this page was loaded (or the form is "
                            "incomplete): nothing was decided. Your marks are kept below on the frames still "
                            "waiting: look at them again and give the decision.")
    culls = [{"photo": name, "reason": reason, "note": note}
             for name, verdict, reason, note in rows if verdict == CullVerdict.REJECT.value]
    return ORIGINALS.build(listed=culls, by=reviewer)
