"""Data functions over the production record. Each takes ``session`` and does not commit;
status changes go through :mod:`record.moves`."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import PurePosixPath

from sqlalchemy import or_, update
from sqlmodel import Session, col, func, select

from config.errors import NotFound  # noqa: F401  (raised here; callers catch work.NotFound)
from config.line import Line, LineFileError, get_line
from record import moves, runs
from record.db import ORDER_LOCK, one_at_a_time, transaction
from record.models import (
    CLIENT_SELECTION, INGEST, ORIGINAL_REVIEW, QC_GATE, CardListing, EventKind, Order, OrderStatus, Photo, PhotoStatus,
    ShootType, StageEvent, WorkItem, WorkStatus, utcnow,
)

AUTO_WORKER = "postline-auto"
log = logging.getLogger("postline.record")
AUTO_LEASE = timedelta(minutes=30)


def create_order(session: Session, *, client: str, shoot: ShootType, preset_name: str, preset_version: int,
                 preset_hash: str, preset_json: str, due: date | None, card_folder: str) -> Order:
    order = Order(client=client, shoot=shoot, preset=preset_name, preset_version=preset_version,
                  preset_hash=preset_hash, preset_json=preset_json, due=due, card_folder=card_folder,
                  status=OrderStatus.CREATED)
    session.add(order)
    session.flush()
    return order


def get_order(session: Session, order_id: int) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}; `postline status` lists the orders")
    return order


def set_order_status(session: Session, order: Order, status: OrderStatus, *, delivery_path: str | None = None,
                     run: str | None = None, actor: str | None = None, reason: str | None = None) -> None:
    """Move the order's status (record.moves.move_order, which writes its event): ``run`` is the flow run id of
    the run holding the order; None for a person's action (``actor``), allowed only while no live run holds it."""
    moves.move_order(session, order, status, run=run, actor=actor, reason=reason, delivery_path=delivery_path)


def order_line(session: Session, order_id: int) -> Line:
    """The line order ``order_id`` runs with: the one recorded when it started (or moved to with `postline
    order use-line`); before its first start, the current line file's, which it will start with."""
    recorded = session.execute(select(Order.line_json).where(Order.id == order_id)).scalar_one_or_none()
    return _line_from_json(recorded) if recorded else studio_line(session)


def studio_line(session: Session | None = None) -> Line:
    """The line for what is no one order's: the stages people pull from, with their skills and WIP limits, and
    the stage names of the pages, queues and report. The current line file's; while that cannot be read (a lead
    saved it half edited), the line the latest order runs with, and a warning naming the file, so that nobody's
    queue, page or report stops for it. Starting an order and `order use-line` still refuse the file
    (:func:`config.line.get_line`). ``session``: the caller's, when it is inside one (on SQLite a second
    transaction of the same process would wait for the first)."""
    try:
        return get_line()
    except LineFileError as exc:
        latest = select(Order.id, Order.line_json).where(col(Order.line_json).is_not(None)).order_by(
            col(Order.id).desc()).limit(1)
        if session is not None:
            found = session.execute(latest).first()
        else:
            with transaction() as own:
                found = own.execute(latest).first()
        if found is None:
            raise
        said = f"{exc}; until it is fixed, queues, pages and the report use the line order {found.id} runs with"
        if said not in _SAID:
            _SAID.add(said)
            log.warning("%s (no order can start on it)", said)
        return _line_from_json(found.line_json)


_SAID: set[str] = set()      # each broken line file is said once by a process (a web server asks on every page)


@lru_cache(maxsize=32)
def _line_from_json(text: str) -> Line:
    return Line.model_validate_json(text)


def record_line(session: Session, order: Order, line: Line) -> None:
    """The order runs with ``line`` from now on (its resolved values, as JSON)."""
    order.line_json = line.model_dump_json()
    order.updated_at = utcnow()
    session.add(order)


def list_card(session: Session, order_id: int, names: Collection[str]) -> None:
    """Keep the names of the files on the order's card folder as it is created (record.models.CardListing)."""
    session.add(CardListing(order_id=order_id, names=json.dumps(sorted(names), ensure_ascii=False)))


def orders_of_the_same_files(session: Session, names: Collection[str]) -> list[Order]:
    """The orders whose card folder held exactly ``names`` when they were created (:func:`list_card`): the same
    card, made an order again."""
    listing = json.dumps(sorted(names), ensure_ascii=False)
    return list(session.exec(select(Order).join(CardListing, CardListing.order_id == Order.id)
                             .where(CardListing.names == listing).order_by(Order.id)).all())


def card_listed(session: Session, order_id: int) -> set[str]:
    """The files on the order's card folder when it was created; empty for an order made before they were kept."""
    listing = session.get(CardListing, order_id)
    return set(json.loads(listing.names)) if listing is not None else set()


def known_sources(session: Session, order_id: int) -> set[str]:
    return set(session.exec(select(Photo.source_name).where(Photo.order_id == order_id)).all())


def find_by_checksum(session: Session, order_id: int, sha256: str) -> Photo | None:
    return session.exec(
        select(Photo).where(Photo.order_id == order_id, Photo.sha256 == sha256,
                            col(Photo.status).not_in([PhotoStatus.REJECTED, PhotoStatus.DUPLICATE]))
    ).first()


def raws_of_the_same_shot(session: Session, photo: Photo) -> list[Photo]:
    """The order's camera RAWs in its line that ``photo`` may be the camera's own JPEG of (a RAW+JPEG shot): the
    same camera (make and model) and the same second on its clock, and the same file name but for the extension,
    in any folder of the card (a camera may write the RAW to one card and the JPEG to the other). None without
    the camera and the time: nothing to tell the shot by."""
    return _same_shot(session, photo, "raw", col(Photo.status).not_in([PhotoStatus.REJECTED, PhotoStatus.DUPLICATE]))


def stand_ins_of(session: Session, raw: Photo) -> list[Photo]:
    """The order's JPEGs that may be the camera's own copy of ``raw`` (as :func:`raws_of_the_same_shot`) and
    that went through the line while it could not be read, to QC's pass or the delivery: nothing is open on them."""
    return _same_shot(session, raw, "jpeg", col(Photo.status).in_([PhotoStatus.PASSED, PhotoStatus.DELIVERED]))


def _same_shot(session: Session, photo: Photo, kind: str, status) -> list[Photo]:  # noqa: ANN001 - a condition
    if not (photo.camera_model and photo.capture_time):
        return []
    stem = shot_name(photo.source_name)
    found = session.exec(select(Photo).where(
        Photo.order_id == photo.order_id, Photo.kind == kind, Photo.camera_make == photo.camera_make,
        Photo.camera_model == photo.camera_model, Photo.capture_time == photo.capture_time, status)).all()
    return [other for other in found if other.id != photo.id and shot_name(other.source_name) == stem]


def camera_jpeg_reason(jpeg: str, raw: str) -> str:
    """Why the JPEG ``jpeg`` is set aside: the camera's own copy of the RAW ``raw`` (:func:`is_camera_jpeg`)."""
    return (f"{jpeg}: the camera's JPEG of {raw} (shot RAW+JPEG: the same camera, second and picture); the RAW is "
            "worked, the JPEG kept in the archive.")


def is_camera_jpeg(photo: Photo) -> bool:
    """A JPEG set aside at ingest as the camera's copy of a RAW (:func:`camera_jpeg_reason`)."""
    return photo.status is PhotoStatus.DUPLICATE and photo.kind == "jpeg" and \
        (photo.reason or "").startswith(f"{photo.source_name}: the camera's JPEG of ")


def folded_camera_jpegs(photos: list[Photo]) -> tuple[list[Photo], str | None]:
    """``photos`` without the camera's JPEGs of RAW+JPEG shots, and one line saying how many those were (None
    without any): a RAW+JPEG wedding sets aside thousands, which would bury the photos that need someone."""
    jpegs = [p for p in photos if is_camera_jpeg(p)]
    if not jpegs:
        return photos, None
    named = ", ".join(sorted(p.source_name for p in jpegs)[:2]) + (", ..." if len(jpegs) > 2 else "")
    return [p for p in photos if not is_camera_jpeg(p)], (
        f"{len(jpegs)} camera JPEG(s) of RAW+JPEG shots ({named}): each shot's RAW is worked, the JPEG kept in the "
        "archive")


FOLD_FROM = 10     # files given one reason: listed one by one below this many (each named), then in one line


def folded(photos: list[Photo], *, fold: bool = True) -> tuple[list[Photo], list[tuple[PhotoStatus, str]]]:
    """``photos`` to list one by one, and lines (status, what) each standing for several: the camera's JPEGs of
    RAW+JPEG shots (:func:`folded_camera_jpegs`), and :data:`FOLD_FROM` or more files refused or set aside for
    the same reason (a hybrid shooter's hundreds of video clips, a card reader's run of broken copies), which
    would bury the photos that need someone. Each line names the first files and how many. ``fold`` False: every
    photo listed."""
    if not fold:
        return photos, []
    rest, jpegs = folded_camera_jpegs(photos)
    groups: dict[tuple[PhotoStatus, str | None], list[Photo]] = {}
    for photo in rest:
        groups.setdefault((photo.status, _shared_reason(photo)), []).append(photo)
    lines, alone = [], set()
    for (status, why), members in groups.items():
        if why is None or len(members) < FOLD_FROM:
            alone.update(p.id for p in members)
            continue
        names = sorted(p.source_name for p in members)
        more = ", ..." if len(names) > 3 else ""
        lines.append((status, f"{len(members)} files ({', '.join(names[:3])}{more}): {why}"))
    if jpegs:
        lines.insert(0, (PhotoStatus.DUPLICATE, jpegs))
    return [p for p in rest if p.id in alone], lines


def _shared_reason(photo: Photo) -> str | None:
    """A photo's reason without its own name, when the reason is "<name>: why" and names nothing else of it (so
    other files can share it); None otherwise."""
    head = f"{photo.source_name}: "
    if not photo.reason or not photo.reason.startswith(head):
        return None
    why = photo.reason[len(head):]
    return None if shot_name(photo.source_name) in why.casefold() else why


def shot_name(source_name: str) -> str:
    """A card file's name without its folder and extension, case folded: a camera gives a RAW+JPEG shot's two
    files the same."""
    name = source_name.rsplit("/", 1)[-1]
    return (name.rsplit(".", 1)[0] if "." in name else name).casefold()


def refused_copies(session: Session, order_id: int) -> dict[str, tuple[int, str, datetime]]:
    """The card files the order's ingest refused: source name -> (size, SHA-256, when it was refused, UTC) of
    the copy it saw."""
    rows = session.exec(select(Photo.source_name, Photo.size_bytes, Photo.sha256, Photo.created_at).where(
        Photo.order_id == order_id, Photo.status == PhotoStatus.REJECTED)).all()
    return {name: (size, sha, at if at.tzinfo else at.replace(tzinfo=UTC)) for name, size, sha, at in rows}


def add_photo(session: Session, photo: Photo, *, first_stage: str | None, again: bool = False) -> Photo:
    """Record a photo found on the card, its ingest event, and (if it entered the line) its first work item.
    ``again``: a card file refused before and now copied again (:func:`refused_copies`); it keeps its row, which
    takes the new copy's checksum, archive copy, metadata, status and reason, and the new ingest event is the
    photo's next."""
    refused = session.exec(select(Photo).where(Photo.order_id == photo.order_id, Photo.source_name == photo.source_name,
                                               Photo.status == PhotoStatus.REJECTED)).first() if again else None
    if refused is not None:
        for field in Photo.model_fields:
            if field not in ("id", "order_id", "source_name", "created_at"):
                setattr(refused, field, getattr(photo, field))
        photo = refused
    session.add(photo)
    session.flush()
    kind = {PhotoStatus.INGESTED: EventKind.INGESTED, PhotoStatus.DUPLICATE: EventKind.SET_ASIDE}.get(
        photo.status, EventKind.REJECTED)       # a duplicate is set aside, not refused: the ingest row's figures
    moves.write_events(session, [moves.event_row(order_id=photo.order_id, photo_id=photo.id, stage=INGEST, kind=kind,
                                                 actor=AUTO_WORKER, reason=photo.reason)], codes=False)
    if photo.status is PhotoStatus.INGESTED and first_stage:
        moves.enqueue(session, order_id=photo.order_id, photo_id=photo.id, stage=first_stage, round=1,
                      input_path=photo.original_path, actor=AUTO_WORKER)
    return photo


def items_in(session: Session, order_id: int, stage: str, status: WorkStatus = WorkStatus.QUEUED) -> list[WorkItem]:
    return list(session.exec(
        select(WorkItem).where(WorkItem.order_id == order_id, WorkItem.stage == stage, WorkItem.status == status)
        .order_by(WorkItem.round, WorkItem.id)
    ).all())


def stages_with_work(session: Session, order_id: int) -> set[str]:
    rows = session.exec(
        select(WorkItem.stage).where(WorkItem.order_id == order_id, WorkItem.status == WorkStatus.QUEUED).distinct()
    ).all()
    return set(rows)


def stages_waited_on(session: Session) -> set[str]:
    """The stages (not the gates) some order's run waits on people in now."""
    waiting = session.exec(select(Order.waiting_on).where(col(Order.waiting_on).is_not(None)).distinct()).all()
    return set(waiting) - {QC_GATE, ORIGINAL_REVIEW, CLIENT_SELECTION}


def release_interrupted(session: Session, order_id: int, *, run: str) -> int:
    """Claims the automatic worker still holds on this order belong to a run that died: put them back. Only
    the run holding the order (``run``, its flow run id; record/runs.py) may: any other run would take a
    live run's work from under it. :class:`record.runs.NotTheHolder` otherwise."""
    runs.ensure_holder(session, order_id, run)
    stale = session.exec(
        select(WorkItem).where(WorkItem.order_id == order_id, WorkItem.status == WorkStatus.CLAIMED,
                               WorkItem.claimed_by == AUTO_WORKER)
    ).all()
    for item in stale:
        moves.move_item(session, item, WorkStatus.QUEUED, actor=AUTO_WORKER,
                        reason="the run working on it stopped before finishing; queued again")
    return len(stale)


def items_by_id(session: Session, ids: list[int]) -> list[WorkItem]:
    return list(session.exec(select(WorkItem).where(col(WorkItem.id).in_(ids)).order_by(WorkItem.id)).all())


def final_output(session: Session, photo_id: int, stage: str) -> WorkItem | None:
    """The latest submitted work of ``stage`` for a photo."""
    return session.exec(
        select(WorkItem).where(WorkItem.photo_id == photo_id, WorkItem.stage == stage,
                               WorkItem.status == WorkStatus.SUBMITTED)
        .order_by(col(WorkItem.round).desc())
    ).first()


def finished_output(session: Session, photo_id: int, stages: list[str]) -> WorkItem | None:
    """The work that made the photo's finished file: of its submitted items in ``stages`` (the order's line, in
    order), the latest round's, and in it the latest stage's. The last stage's for a retouched photo; grading's
    for one the client did not choose (record/selection.py), which skips the retouch stages."""
    done = session.exec(select(WorkItem).where(WorkItem.photo_id == photo_id, col(WorkItem.stage).in_(stages),
                                               WorkItem.status == WorkStatus.SUBMITTED)).all()
    return max(done, key=lambda item: (item.round, stages.index(item.stage)), default=None)


def finished_outputs(session: Session, order_id: int, stages: list[str],
                     photo_ids: Collection[int] | None = None) -> dict[int, WorkItem]:
    """:func:`finished_output` of every photo of the order that has one (of ``photo_ids`` only, when given: one
    batch's), by photo id, in one query (delivery and retention read it for thousands of photos)."""
    query = select(WorkItem).where(WorkItem.order_id == order_id, col(WorkItem.stage).in_(stages),
                                   WorkItem.status == WorkStatus.SUBMITTED)
    if photo_ids is not None:
        query = query.where(col(WorkItem.photo_id).in_(list(photo_ids)))
    done = session.exec(query).all()
    out: dict[int, WorkItem] = {}
    for item in done:
        best = out.get(item.photo_id)
        if best is None or (item.round, stages.index(item.stage)) > (best.round, stages.index(best.stage)):
            out[item.photo_id] = item
    return out


def finished_as_delivered(session: Session, order_id: int, stages: list[str],
                          delivered: dict[int, str]) -> dict[int, WorkItem]:
    """Of each photo of ``delivered`` (photo id -> the SHA-256 of the finished file a package delivered), the
    submitted work in ``stages`` that made that file (the latest, should two rounds have made the same bytes)."""
    if not delivered:
        return {}
    done = session.exec(select(WorkItem).where(WorkItem.order_id == order_id, col(WorkItem.stage).in_(stages),
                                               WorkItem.status == WorkStatus.SUBMITTED,
                                               col(WorkItem.photo_id).in_(list(delivered)))).all()
    out: dict[int, WorkItem] = {}
    for item in done:
        best = out.get(item.photo_id)
        if item.output_sha256 == delivered[item.photo_id] and (
                best is None or (item.round, stages.index(item.stage)) > (best.round, stages.index(best.stage))):
            out[item.photo_id] = item
    return out


def photos(session: Session, order_id: int, status: PhotoStatus | None = None,
           photo_ids: Collection[int] | None = None) -> list[Photo]:
    """The order's photos (with ``status``; of ``photo_ids`` only, when given), in the order they were recorded."""
    query = select(Photo).where(Photo.order_id == order_id)
    if photo_ids is not None:
        query = query.where(col(Photo.id).in_(list(photo_ids)))
    if status is not None:
        query = query.where(Photo.status == status)
    return list(session.exec(query.order_by(Photo.id)).all())


def failed_at(session: Session, photo_id: int) -> str | None:
    """The stage of the photo's latest failed work item (where it failed in the line); None when none failed."""
    return session.exec(select(WorkItem.stage).where(WorkItem.photo_id == photo_id,
                                                     WorkItem.status == WorkStatus.FAILED)
                        .order_by(WorkItem.id.desc())).first()


def named(photos: Collection[Photo], name: str) -> list[Photo]:
    """The photos among ``photos`` that ``name`` names: its name on the card, or else its file name alone (any
    case), which may be several photos' (the same name in two card folders)."""
    return [p for p in photos if p.source_name == name] or \
        [p for p in photos if PurePosixPath(p.source_name).name.lower() == PurePosixPath(name).name.lower()]


def which_photo(order_id: int, name: str, found: list[Photo]) -> str | None:
    """Why ``found`` (:func:`named`) is not one photo, as a sentence saying what to give; None when it is."""
    if not found:
        return f"no photo {name!r} in this order (give its name on the card, as `postline status {order_id}` shows it)"
    if len(found) > 1:
        folders = {PurePosixPath(p.source_name).parent for p in found}
        return (f"{name!r} is the name of {len(found)} photos of this order: "
                f"{', '.join(p.source_name for p in found)}. "
                + ("Give its folder too" if len(folders) == len(found) else "Give its name exactly as it is on the "
                   "card (upper and lower case tell them apart), with its folder"))
    return None


def orders(session: Session) -> list[Order]:
    return list(session.exec(select(Order).order_by(col(Order.id).desc())).all())


def photo_counts(session: Session, order_id: int) -> dict[PhotoStatus, int]:
    rows = session.exec(
        select(Photo.status, func.count()).where(Photo.order_id == order_id).group_by(Photo.status)
    ).all()
    return {PhotoStatus(status): n for status, n in rows}


def photos_done_per_stage(session: Session, order_id: int) -> dict[str, int]:
    """Per stage (and the QC gate): how many of the order's photos it has finished (any round), in one query."""
    finished = (WorkStatus.SUBMITTED, WorkStatus.PASSED)
    rows = session.exec(
        select(WorkItem.stage, func.count(func.distinct(WorkItem.photo_id)))
        .where(WorkItem.order_id == order_id, col(WorkItem.status).in_(finished)).group_by(WorkItem.stage)
    ).all()
    return dict(rows)


def handed_back_for_another(session: Session, item: WorkItem,
                            sha256: str) -> list[tuple[str, int, str | None, bool]]:
    """Other photos' work items, of any order, that already hold the file ``sha256`` as their output: (the
    photo's card name, its order, the item's working file, whether postline made it: the other photo's working
    file, not a person's hand-back), this order's first; a file handed back for one photo is not another's work
    (surfaces.actions.queue.hand_back)."""
    def found(*where) -> list:  # noqa: ANN002
        return list(session.exec(select(Photo.source_name, WorkItem.order_id, WorkItem.input_path,
                                        WorkItem.claimed_by == AUTO_WORKER)
                                 .join(WorkItem, WorkItem.photo_id == Photo.id)
                                 .where(WorkItem.output_sha256 == sha256, WorkItem.photo_id != item.photo_id, *where)
                                 .limit(20)).all())

    return found(WorkItem.order_id == item.order_id) or found(WorkItem.order_id != item.order_id)


def handed_back_before(session: Session, item: WorkItem, sha256: str) -> WorkItem | None:
    """The photo's earlier round at ``item``'s stage whose hand-back is the file ``sha256``, or None: a photo QC sent
    back is not finished by handing back what it sent back."""
    return session.exec(select(WorkItem).where(WorkItem.photo_id == item.photo_id, WorkItem.stage == item.stage,
                                               WorkItem.id != item.id, WorkItem.output_sha256 == sha256)
                        .order_by(WorkItem.round.desc()).limit(1)).first()


def last_order_reason(session: Session, order_id: int, kind: EventKind) -> str | None:
    """The reason of the order's last event of ``kind`` (why its last run stopped: ORDER_FAILED)."""
    return session.exec(select(StageEvent.reason).where(StageEvent.order_id == order_id, StageEvent.kind == kind)
                        .order_by(col(StageEvent.id).desc()).limit(1)).first()


def events(session: Session, order_id: int) -> list[StageEvent]:
    return list(session.exec(select(StageEvent).where(StageEvent.order_id == order_id)
                             .order_by(StageEvent.id)).all())


def claim_queued(session: Session, item_id: int, *, actor: str = AUTO_WORKER,
                 lease: timedelta = AUTO_LEASE) -> WorkItem | None:
    """Claim one queued item; None if it is not queued any more (done earlier, or taken)."""
    item = session.get(WorkItem, item_id)
    if item is None or item.status is not WorkStatus.QUEUED:
        return None
    return moves.move_item(session, item, WorkStatus.CLAIMED, actor=actor, lease_expires_at=utcnow() + lease)


def record_output(session: Session, item_id: int, sha256: str) -> None:
    """A stage's output file was made again (the same work, from the original): its checksum as it is now."""
    item = session.get(WorkItem, item_id)
    item.output_sha256, item.updated_at = sha256, utcnow()
    session.add(item)


def working_files_due(session: Session, *, delivered_before: datetime) -> list[int]:
    """Orders whose working files may go: delivered (and not running or being revised since), their last delivery
    before ``delivered_before``, and their working files not removed since that delivery."""
    last = (select(StageEvent.order_id, func.max(StageEvent.at).label("at"))
            .where(StageEvent.kind == EventKind.DELIVERED).group_by(StageEvent.order_id).subquery())
    rows = session.exec(select(Order.id).join(last, last.c.order_id == Order.id).where(
        Order.status == OrderStatus.DELIVERED, last.c.at < delivered_before,
        or_(col(Order.work_removed_at).is_(None), col(Order.work_removed_at) < last.c.at)).order_by(Order.id)).all()
    return list(rows)


def mark_working_files_removed(session: Session, order_id: int) -> bool:
    """Record that the order's working files are being removed, if it is still delivered (a revision or a run
    that took it since keeps them): from now on a revision goes on from what is kept, or from the originals. One guarded
    UPDATE (after a revision being asked for meanwhile: record.rounds.request_revision); False when the order is
    not delivered any more."""
    one_at_a_time(session, ORDER_LOCK, order_id)
    result = session.execute(update(Order).where(Order.id == order_id, Order.status == OrderStatus.DELIVERED)
                             .values(work_removed_at=utcnow()))
    return result.rowcount == 1

