"""What a gate's decision does to a photo, once each: it passes, it is sent back to a stage as a new round, or it
is held for a person; and a delivered photo re-entering the line for a client's revision. The automatic QC
gate (qc/gate.py), the QC lead's decision (qc/review.py) and a client revision (:func:`request_revision`) all
go through these. Each takes ``session`` and does not commit; each status change is a move of
:mod:`record.moves`, with its event."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from pathlib import Path

from sqlmodel import Session, col, func, select

from config.errors import Invalid
from config.line import Line, StageMode
from record import moves, work
from record.db import ORDER_LOCK, one_at_a_time
from record.models import (CLIENT_REVIEW, QC_GATE, EventKind, Order, OrderStatus, Photo, PhotoStatus, StageEvent,
                           WorkItem, WorkStatus)


def previous_item(session: Session, photo_id: int, stage: str, round: int) -> WorkItem | None:
    return session.exec(
        select(WorkItem).where(WorkItem.photo_id == photo_id, WorkItem.stage == stage, WorkItem.round < round)
        .order_by(col(WorkItem.round).desc())
    ).first()


def _finished_before(session: Session, photo: Photo, stage: str) -> str | None:
    """The photo's finished file (record.work.finished_output) when a stage before ``stage`` made it, else its
    original: where a stage the photo skipped starts from (a photo delivered graded only, the client asking for a
    change to it after delivery)."""
    keys = [spec.key for spec in work.order_line(session, photo.order_id).stages]
    finished = work.finished_output(session, photo.id, keys) if stage in keys else None
    if finished is not None and finished.output_path and keys.index(finished.stage) < keys.index(stage):
        return finished.output_path
    return photo.original_path


def _handed_back(session: Session, item: WorkItem) -> bool:
    """Whether ``item`` is a person's finished work at a stage people work (manual or assisted)."""
    if item.status is not WorkStatus.SUBMITTED or not item.output_path or item.claimed_by in (None, work.AUTO_WORKER):
        return False
    try:
        return work.order_line(session, item.order_id).stage(item.stage).mode is not StageMode.AUTOMATIC
    except KeyError:
        return False


def last_hand_back(session: Session, item: WorkItem) -> WorkItem | None:
    """The person's hand-back of ``item``'s stage in the round before, when ``item`` starts from what that round
    started from (QC or the client sent the photo back to this stage): the retoucher may go on from it rather
    than start over. None for a first round, an automatic stage, or a photo whose input changed upstream since
    (sent back to an earlier stage first: that hand-back was made on another picture)."""
    earlier = previous_item(session, item.photo_id, item.stage, item.round)
    if earlier is None or earlier.input_path != item.input_path or not _handed_back(session, earlier):
        return None
    return earlier


def redo_stage(session: Session, item: WorkItem) -> str:
    """The stage a gate item's photo is sent back to unless the lead says another: the last stage people work that
    the photo went through (what a lead finds is theirs to redo), not an automatic finishing stage; for a photo
    that went through none (the client did not choose it: graded only; or people work no stage of the line),
    grading, where a rework changes the photo (its exposure rescued): an automatic stage after it would make it
    again as it was (config.line.Line.remade_alike)."""
    line = work.order_line(session, item.order_id)
    went = set(session.exec(select(WorkItem.stage).where(WorkItem.photo_id == item.photo_id)).all())
    through = [s for s in line.stages if s.key in went] or list(line.stages)
    return ([s for s in through if s.needs_people] or [line.first])[-1].key


def await_lead(session: Session, item: WorkItem) -> None:
    """The gate item passed the automatic checks and waits for the QC lead: it stays claimed at the gate, with no
    lease to run out (record.queue.reap_expired), as long as the lead takes. Only such items are the lead's to
    decide (qc.review.QcReview.waiting); one claimed with a lease is still being inspected."""
    item.lease_expires_at = None
    session.add(item)


def pass_photo(session: Session, item: WorkItem, *, actor: str) -> None:
    """The gate item passes, and so does its photo: ready to deliver."""
    moves.move_item(session, item, WorkStatus.PASSED, actor=actor)
    moves.move_photo(session, session.get(Photo, item.photo_id), PhotoStatus.PASSED, stage=QC_GATE, round=item.round,
                     actor=actor)


def new_round(session: Session, photo: Photo, *, stage: str, round: int, actor: str, reason: str) -> WorkItem:
    """Queue ``photo`` in ``stage`` as round ``round``; ``reason`` says why, on the new item. From what that stage
    started from last time (for a stage people work, :func:`last_hand_back` is their work of that round, to go on
    from); a stage the photo never went through, from its finished file when that was made before the stage (the
    graded file of a photo the client did not pick), else the original."""
    earlier = previous_item(session, photo.id, stage, round)
    source = earlier.input_path if earlier is not None else _finished_before(session, photo, stage)
    item = moves.enqueue(session, order_id=photo.order_id, photo_id=photo.id, stage=stage, round=round,
                         input_path=source, actor=actor)
    item.reason = reason
    session.add(item)
    return item


def reject(session: Session, item: WorkItem, *, stage: str, actor: str, reason: str) -> WorkItem:
    """The gate item is rejected with ``reason``, ``stage`` blamed (counted as that stage's rework)."""
    return moves.move_item(session, item, WorkStatus.REJECTED, actor=actor, reason=reason, blamed_stage=stage)


def send_back(session: Session, item: WorkItem, *, stage: str, actor: str, reason: str) -> WorkItem:
    """Reject the gate item, blaming ``stage``, and queue its photo there as the next round. Returns the new item."""
    reject(session, item, stage=stage, actor=actor, reason=reason)
    return new_round(session, session.get(Photo, item.photo_id), stage=stage, round=item.round + 1, actor=actor,
                     reason=f"sent back by QC: {reason}")


def hold(session: Session, item: WorkItem, *, stage: str, actor: str, reason: str, held_because: str) -> None:
    """Reject the gate item, blaming ``stage``, and hold its photo for a person (``held_because``)."""
    reject(session, item, stage=stage, actor=actor, reason=reason)
    moves.move_photo(session, session.get(Photo, item.photo_id), PhotoStatus.HELD, stage=QC_GATE, round=item.round,
                     actor=actor, reason=held_because)


def revise(session: Session, photo: Photo, *, stage: str, round: int, actor: str, reason: str) -> WorkItem:
    """A delivered photo goes back into the line at ``stage`` as round ``round`` (a client's revision)."""
    moves.move_photo(session, photo, PhotoStatus.INGESTED, stage=CLIENT_REVIEW, round=round, actor=actor, reason=reason)
    return new_round(session, photo, stage=stage, round=round, actor=actor, reason=reason)


class RevisionError(Invalid):
    """A revision request names a photo that was not delivered, or a stage that is not in the line."""


def _made_before_removal(order: Order, item: WorkItem) -> bool:
    """Whether ``item``'s files went with the order's working files (removed after the revision window)."""
    if order.work_removed_at is None:
        return False
    made, removed = item.created_at, order.work_removed_at
    made, removed = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (made, removed))
    return made < removed


def _goes_on_from_kept(session: Session, line: Line, photo_id: int, stage: str) -> bool:
    """Whether a late change at ``stage`` (the order's working files removed) can go on from people's work: people
    work ``stage`` (not an assisted stage) or a stage before it, and the last hand-back of each such stage before
    it is still there (tasks/retention.py keeps them; an order cleaned before it did has only its finished
    files). The automatic files between are made again (tasks/stages.restore_stage_inputs)."""
    keys = [spec.key for spec in line.stages]
    if stage not in keys or not any(spec.needs_people for spec in line.stages[:keys.index(stage) + 1]):
        return False
    if line.stage(stage).mode is StageMode.ASSISTED:     # its prepared file went with the rest, and a round that
        return False                                     # starts from the same input is not prepared again
    for spec in line.stages[:keys.index(stage)]:
        handed = work.final_output(session, photo_id, spec.key) if spec.needs_people else None
        if handed is not None and not (handed.output_path and Path(handed.output_path).is_file()):
            return False
    return True


def _round_open(session: Session, order_id: int) -> bool:
    """Whether a client's change was asked for since the order's last delivery: the next delivery is that round's.
    (The order's status does not say it: a delivered order run again for a file copied again, stopped, is
    failed, its photos delivered.)"""
    from record import history, links

    delivered = history.last_delivered(session, order_id).get(order_id)
    asked = session.exec(select(func.max(StageEvent.at)).where(StageEvent.order_id == order_id,
                                                               StageEvent.kind == EventKind.REVISED)).one()
    return asked is not None and (delivered is None or links.utc(asked) > links.utc(delivered))


def request_revision(session: Session, *, order_id: int, requests: list[tuple[str, str, str]],
                     stages: list[str], actor: str = "client") -> int:
    """The client's change requests on a delivery, as (photo card name, stage to redo, note): each photo goes
    back into the line at that stage as a new round. Returns the order's revision round number: a new one when
    the order is delivered, the open one when changes asked for before are not delivered yet (they are delivered
    together, in one package)."""
    one_at_a_time(session, ORDER_LOCK, order_id)      # two requests at once: one after the other; housekeeping waits
    order = work.get_order(session, order_id)
    photos = work.photos(session, order_id)
    wrong, delivered = [], {}
    for name, _, _ in requests:        # its name on the card, or its file name alone (any case), as everywhere
        found = work.named(photos, name)
        if (why := work.which_photo(order_id, name, found)) is not None:
            wrong.append(why)
        elif found[0].status is PhotoStatus.INGESTED:
            wrong.append(f"{found[0].source_name} is in the line, not delivered yet")
        elif found[0].status is not PhotoStatus.DELIVERED:
            wrong.append(f"{found[0].source_name} is {found[0].status.value}, not delivered")
        else:
            delivered[name] = found[0]
    bad = [stage for _, stage, _ in requests if stage not in stages]
    if wrong or bad or not requests:
        raise RevisionError(
            (f"not delivered in order {order_id}: {'; '.join(wrong)}. " if wrong else "")
            + (f"no stage {', '.join(bad)} (stages: {', '.join(stages)})." if bad else "")
            + ("" if requests else "name at least one photo"))
    if not _round_open(session, order_id):          # a new round; more changes before its delivery join it
        order.revisions += 1
    line = work.order_line(session, order_id)
    for name, stage, note in requests:
        photo = delivered[name]
        last_round = session.exec(select(func.max(WorkItem.round)).where(WorkItem.photo_id == photo.id)).one()
        reason = f"client revision {order.revisions}: {note}" if note else f"client revision {order.revisions}"
        earlier = previous_item(session, photo.id, stage, last_round + 1)
        if earlier is not None and _made_before_removal(order, earlier):   # its working files are gone
            removed = f"its working files were removed {order.work_removed_at:%Y-%m-%d}, after the revision window"
            if _goes_on_from_kept(session, line, photo.id, stage):
                reason += f" ({removed}: it goes on from what people made, kept; the files between made again)"
            else:
                stage = line.first.key
                reason += f" ({removed}: it runs the whole line again from its original)"
        revise(session, photo, stage=stage, round=last_round + 1, actor=actor, reason=reason)
    work.set_order_status(session, order, OrderStatus.REVISION, actor=actor,
                          reason=f"client revision {order.revisions}: {len(requests)} photo(s) back in the line")
    return order.revisions


def _not_among(session: Session, order_id: int, among: list[Photo], names: list[str]) -> list[str]:
    """Each of ``names`` that does not name one photo of ``among``, said with what it is: its status, no such
    photo, or the file name of several (give its folder)."""
    every = None
    said = []
    for name in (name for name in names if len(work.named(among, name)) != 1):
        every = work.photos(session, order_id) if every is None else every
        found = work.named(every, name)
        said.append(f"{name} ({found[0].status.value})" if len(found) == 1 else
                    f"{name} ({'no such photo' if not found else 'the name of several: give its folder'})")
    return said


class RetryError(Invalid):
    """A retry names a photo that has not failed (or none has)."""


def retry_failed(session: Session, *, order_id: int, names: list[str], actor: str,
                 originals: Mapping[int, tuple[Path, str, int]] | None = None) -> list[tuple[Photo, str]]:
    """Failed photos (``names``, or every failed one) back in the line at the stage they failed in: the failed work
    item queued again (the same round, from the same input), its cause (a LUT, a file, a bug) fixed. ``originals``:
    photo id -> (path, sha256, size) of a new copy of its original (tasks.ingest.fresh_originals), which it is put
    back with, in place of the one it failed on. Returns (photo, stage)."""
    failed = work.photos(session, order_id, PhotoStatus.FAILED)
    if names:
        if said := _not_among(session, order_id, failed, names):
            raise RetryError(f"not failed in order {order_id}: {', '.join(said)} (`postline status {order_id}` "
                             f"lists the failed photos: {', '.join(p.source_name for p in failed[:10]) or 'none'})")
        failed = [work.named(failed, name)[0] for name in names]
    if not failed:
        raise RetryError(f"no photo of order {order_id} has failed: nothing to put back")
    put_back = []
    for photo in failed:
        item = session.exec(select(WorkItem).where(WorkItem.photo_id == photo.id, WorkItem.status == WorkStatus.FAILED)
                            .order_by(WorkItem.id.desc())).first()
        if item is None:
            raise RetryError(f"{photo.source_name}: failed outside a stage; nothing to put back")
        reason = f"put back in the line by {actor} after failing: {photo.reason}"[:1000]
        if originals and photo.id in originals:
            path, sha, size = originals[photo.id]
            if item.input_path == photo.original_path:
                item.input_path = str(path)
            photo.original_path, photo.sha256, photo.size_bytes = str(path), sha, size
            reason = (f"put back in the line by {actor}, its original copied again from the card, after "
                      f"failing: {photo.reason}")[:1000]
        moves.move_photo(session, photo, PhotoStatus.INGESTED, stage=item.stage, round=item.round, actor=actor,
                         reason=None, kind=EventKind.RETRIED)
        moves.move_item(session, item, WorkStatus.QUEUED, actor=actor, reason=reason)    # its item, queued again
        put_back.append((photo, item.stage))
    return put_back


class HeldError(Invalid):
    """A decision on held photos names a photo that is not held, one twice, or a stage not in the line."""


def decide_held(session: Session, *, order_id: int, passes: list[str], send_back: list[tuple[str, str, str]],
                actor: str) -> tuple[list[Photo], list[tuple[Photo, str]]]:
    """A QC lead's decision on photos the gate held after the allowed rework (:func:`hold`): each of ``passes``
    passes as it is (delivered with the order's next delivery); each of ``send_back`` (photo, stage, note) goes
    back into the line at that stage as a new round, with the note for whoever works it. All or nothing: a photo
    not held, named twice, or a stage not in the order's line is a :class:`HeldError` and nothing changes.
    Returns (passed photos, [(photo, stage)] sent back)."""
    one_at_a_time(session, ORDER_LOCK, order_id)     # with a client's revision or another lead's decision at once
    held = work.photos(session, order_id, PhotoStatus.HELD)
    line = work.order_line(session, order_id)
    names = [*passes, *(name for name, _, _ in send_back)]
    problems = []
    if said := _not_among(session, order_id, held, names):
        problems.append(f"not held: {', '.join(said)} (held: {', '.join(p.source_name for p in held[:10]) or 'none'})")
    chosen = [found[0] for name in names if len(found := work.named(held, name)) == 1]
    twice = sorted({p.source_name for p in chosen if chosen.count(p) > 1})
    if twice:
        problems.append(f"named twice: {', '.join(twice)}")
    stages = [spec.key for spec in line.stages]
    bad = [stage for _, stage, _ in send_back if stage not in stages]
    if bad:
        problems.append(f"no stage {', '.join(dict.fromkeys(bad))} in the order's line (stages: {', '.join(stages)})")
    if problems:
        raise HeldError(f"order {order_id}: " + "; ".join(problems) + ". Nothing was changed.")
    if not names:
        raise HeldError(f"order {order_id}: name the held photos to pass (--pass) or send back (--send-back)")
    passed = [work.named(held, name)[0] for name in passes]
    for photo in passed:
        moves.move_photo(session, photo, PhotoStatus.PASSED, stage=QC_GATE, round=_last_round(session, photo),
                         actor=actor, reason=None)
    sent = []
    for name, stage, note in send_back:
        photo = work.named(held, name)[0]
        round = _last_round(session, photo) + 1
        moves.move_photo(session, photo, PhotoStatus.INGESTED, stage=stage, round=round, actor=actor, reason=None,
                         kind=EventKind.RETRIED)
        new_round(session, photo, stage=stage, round=round, actor=actor,
                  reason=f"held by QC, sent back by {actor}" + (f": {note}" if note else ""))
        sent.append((photo, stage))
    return passed, sent


def _last_round(session: Session, photo: Photo) -> int:
    return session.exec(select(func.max(WorkItem.round)).where(WorkItem.photo_id == photo.id)).one() or 1
