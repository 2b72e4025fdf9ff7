"""The senior photographer's review of the originals, after ingest: approve the frames, or cull some with
a reason, before any stage spends time on them. Given in the Prefect UI (the paused run's form) or with
`postline review decide`. A culled photo's queued work is cancelled; it is listed as not delivered."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from prefect import task
from prefect.input import RunInput
from prefect.logging import get_run_logger
from pydantic import BaseModel, Field, model_validator
from sqlmodel import Session, col, select

from tasks.runs import line_of
from qc import cull
from qc.review import DecisionError, approve_all_or_list, listing_problems
from record import cull as cull_record
from record import moves, work
from record.db import transaction
from record.models import ORIGINAL_REVIEW, CullVerdict, EventKind, Photo, PhotoStatus, StageEvent, WorkStatus


class CullReason(StrEnum):
    BLURRED = "blurred"
    EYES_CLOSED = "eyes_closed"
    DUPLICATE_POSE = "duplicate_pose"
    EXPOSURE = "exposure"
    COMPOSITION = "composition"
    OTHER = "other"


class CulledPhoto(BaseModel):
    photo: str = Field(description="The photo's file name as on the card")
    reason: CullReason = Field(description="Why it is left out")
    note: str = Field("", max_length=500)


class OriginalsDecision(RunInput):
    """Approve every original, or cull the listed ones (the rest go on)."""
    approve_all: bool = Field(True, description="Every original goes on to the line")
    cull: list[CulledPhoto] = Field(default_factory=list, description="Originals to leave out (untick approve_all)")
    reviewer: str = Field("senior-photographer", max_length=80, description="Who decides (recorded)")

    @model_validator(mode="after")
    def _consistent(self) -> "OriginalsDecision":
        approve_all_or_list(self.approve_all, self.cull)
        return self


def _waiting(session: Session, order_id: int) -> dict[str, Photo]:
    reviewed = set(session.exec(select(StageEvent.photo_id).where(
        StageEvent.order_id == order_id, StageEvent.stage == ORIGINAL_REVIEW)).all())
    return {p.source_name: p for p in work.photos(session, order_id, PhotoStatus.INGESTED) if p.id not in reviewed}


@dataclass(frozen=True)
class Plan:
    """What a review of the originals does, checked against the record."""
    approved: tuple[str, ...]
    culled: tuple[tuple[str, str], ...]                  # (photo, reason)
    photo_ids: tuple[int, ...] = field(repr=False)       # the originals it decides

    def summary(self) -> str:
        return "; ".join([f"{len(self.approved)} approved"] + [f"{photo} culled ({reason})"
                                                             for photo, reason in self.culled])


def check_decision(session: Session, order_id: int, decision: OriginalsDecision) -> Plan:
    """The decision's :class:`Plan`, or :class:`DecisionError` saying what is wrong (originals not waiting,
    or listed twice). Nothing is changed."""
    waiting = _waiting(session, order_id)
    problems = listing_problems(list(waiting), [c.photo for c in decision.cull])
    if problems:
        raise DecisionError(f"order {order_id}: " + "; ".join(problems) + ". Nothing was applied.")
    culled = {c.photo for c in decision.cull}
    return Plan(approved=tuple(sorted(name for name in waiting if name not in culled)),
                culled=tuple((c.photo, c.reason.value) for c in decision.cull),
                photo_ids=tuple(p.id for p in waiting.values()))


def validate(order_id: int, decision: OriginalsDecision) -> Plan:
    """:func:`check_decision` in a transaction of its own: what the decision would do, before it is given."""
    with transaction() as session:
        return check_decision(session, order_id, decision)


def applied(plan: Plan) -> bool:
    """Whether every original ``plan`` decides has been reviewed (by the order's run, once it took it)."""
    with transaction() as session:
        reviewed = set(session.exec(select(StageEvent.photo_id).where(
            col(StageEvent.photo_id).in_(plan.photo_ids), StageEvent.stage == ORIGINAL_REVIEW)).all())
    return reviewed >= set(plan.photo_ids)


def awaiting_review(order_id: int) -> list[str]:
    with transaction() as session:
        return sorted(_waiting(session, order_id))


# The cull's reason codes (qc/cull.py) as the review's reasons; the code itself goes in the note.
_REASON_FOR = {cull.Reason.BLURRED: CullReason.BLURRED, cull.Reason.EYES_CLOSED: CullReason.EYES_CLOSED,
               cull.Reason.OVEREXPOSED: CullReason.EXPOSURE, cull.Reason.UNDEREXPOSED: CullReason.EXPOSURE,
               cull.Reason.DUPLICATE: CullReason.DUPLICATE_POSE, cull.Reason.BURST_NOT_BEST: CullReason.DUPLICATE_POSE}


def suggested_culls(session: Session, order_id: int, photos: list[str] | None = None) -> list[CulledPhoto]:
    """The cull's suggested rejects (qc/cull.py) among ``photos`` (default: the originals waiting for review),
    as the review's culls: what "accept the suggestions" decides."""
    names = set(_waiting(session, order_id) if photos is None else photos)
    return [CulledPhoto(photo=s.photo, reason=_REASON_FOR[s.reasons[0]],
                        note=("suggested: " + ", ".join(s.reasons) + "; " + "; ".join(s.notes))[:500])
            for s in cull.suggest(session, order_id) if s.verdict is CullVerdict.REJECT and s.photo in names]


def suggested_decision(order_id: int, *, keep: list[str] = (), also_cull: list[CulledPhoto] = (),
                       reviewer: str = "senior-photographer") -> OriginalsDecision:
    """"Accept the suggestions": cull the suggested frames but those in ``keep``, and ``also_cull`` (which
    may also give a suggested frame another reason). :class:`DecisionError` if ``keep`` names a frame not
    suggested."""
    with transaction() as session:
        suggested = suggested_culls(session, order_id)
    names = {c.photo for c in suggested}
    stray = [name for name in keep if name not in names]
    if stray:
        raise DecisionError(f"order {order_id}: not suggested for culling: {', '.join(map(repr, stray))} "
                            f"(suggested: {', '.join(sorted(names)) or 'none'}). Nothing was applied.")
    extra = {c.photo for c in also_cull}
    culls = [c for c in suggested if c.photo not in set(keep) | extra] + list(also_cull)
    return OriginalsDecision(approve_all=not culls, cull=culls, reviewer=reviewer)


def _record_agreement(session: Session, order_id: int, waiting: dict[str, Photo], culled: set[str], actor: str) -> None:
    """Each decided original's decision beside the cull's suggestion for it, and whether they agree."""
    for s in cull.suggest(session, order_id):
        if s.photo in waiting and s.signals is not None and s.signals.phash:
            cull_record.record_decision(session, order_id=order_id, photo_id=s.photo_id, suggested=s.verdict,
                                        reasons=list(s.reasons), actor=actor,
                                        decided=CullVerdict.REJECT if s.photo in culled else CullVerdict.KEEP)


def apply_decision(order_id: int, decision: OriginalsDecision) -> dict[str, int]:
    """Apply the review in one transaction, after :func:`check_decision` (in the same transaction) found
    nothing wrong with it; each decision is recorded beside the cull's suggestion (record/cull.py)."""
    first_stage = line_of(order_id).first.key
    with transaction() as session:
        plan = check_decision(session, order_id, decision)
        waiting = _waiting(session, order_id)
        culled = {c.photo: c for c in decision.cull}
        _record_agreement(session, order_id, waiting, set(culled), decision.reviewer)
        for name, photo in waiting.items():
            if name not in culled:
                session.add(StageEvent(order_id=order_id, photo_id=photo.id, stage=ORIGINAL_REVIEW,
                                       kind=EventKind.PASSED, actor=decision.reviewer))
                continue
            c = culled[name]
            reason = f"[{c.reason.value}] {name} culled by {decision.reviewer}" + (f": {c.note}" if c.note else "")
            for item in work.items_in(session, order_id, first_stage, WorkStatus.QUEUED):
                if item.photo_id == photo.id:
                    moves.move_item(session, item, WorkStatus.CANCELLED, actor=decision.reviewer, reason=reason)
            moves.move_photo(session, photo, PhotoStatus.CULLED, stage=ORIGINAL_REVIEW, actor=decision.reviewer,
                             reason=reason)
    return {"approved": len(plan.approved), "culled": len(plan.culled)}


# --- Prefect tasks for the gate's sub-flow -------------------------------------------------------------------


@task(name="awaiting-original-review")
def awaiting_task(order_id: int) -> list[str]:
    return awaiting_review(order_id)


@task(name="apply-original-review")
def apply_task(order_id: int, decision: OriginalsDecision) -> dict[str, int]:
    try:
        counts = apply_decision(order_id, decision)
    except DecisionError as exc:
        get_run_logger().error("review not applied: %s Decide again.", exc)
        return {"refused": 1}
    get_run_logger().info("%s: %s", decision.reviewer, counts)
    return counts


def form(order_id: int, photos: list[str]) -> type[OriginalsDecision]:
    """The paused run's form, pre-filled with the cull's suggestions: submitted as it is, it culls exactly the
    suggested frames (or approves all when there is none)."""
    with transaction() as session:
        suggested = suggested_culls(session, order_id, photos)
    listing = "\n".join(f"- {name}" for name in photos)
    reasons = ", ".join(f"`{r.value}`" for r in CullReason)
    proposal = (f"The cull suggests leaving out {len(suggested)} frame(s), listed below with their reasons "
                "(`postline cull` shows every frame's signals): remove any you keep, add any you cull."
                if suggested else "The cull suggests keeping every frame.")
    return OriginalsDecision.with_initial_data(
        description=f"## Review of the originals, order {order_id}\n\n{len(photos)} frame(s):\n\n{listing}\n\n"
                    f"{proposal}\n\nApprove all, or untick *approve_all* and list the frames to cull. "
                    f"Reasons: {reasons}.",
        approve_all=not suggested, cull=suggested)
