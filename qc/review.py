"""The QC lead's decision: the form a lead fills in the Prefect UI (or `postline qc decide`), and what it does.

Approve all, or reject listed photos, each with a reason from the studio's taxonomy and the stage it goes
back to. A rejection writes a REJECTED event naming the reason and the stage blamed, and queues the photo
in that stage as a new round; every other photo waiting for review passes.

A decision is checked against the record and the order's line (:func:`check_decision`) before it is given to
the paused run and again, in the same transaction, when it is applied: one function for both, so a decision
the lead was told is fine is the one that is applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from prefect.input import RunInput
from pydantic import BaseModel, Field, model_validator
from sqlmodel import Session

from record import moves, work
from record.db import transaction
from record.models import QC_GATE, Photo, PhotoStatus, WorkItem, WorkStatus


class ReviewReason(StrEnum):
    """Why a QC lead sends a photo back: the studio's taxonomy, counted in the monthly rework report."""
    OVER_SMOOTHED_SKIN = "over_smoothed_skin"
    LIQUIFY_DISTORTION = "liquify_distortion"
    COLOUR_CAST = "colour_cast"
    EXPOSURE = "exposure"
    CROP = "crop"
    DUST_BLEMISH_MISSED = "dust_blemish_missed"
    LAYOUT = "layout"
    OTHER = "other"


class PhotoRejection(BaseModel):
    photo: str = Field(description="The photo's file name as on the card, e.g. DSC_0003.dng")
    reason: ReviewReason = Field(description="What is wrong")
    send_back_to: str = Field(description="Stage key to redo it, e.g. liquify_skin (see `postline queue stages`)")
    note: str = Field("", max_length=500, description="What the retoucher should fix")


def approve_all_or_list(approve_all: bool, listed: list) -> None:
    """A decision approves everything, or lists exceptions: not both (shared by every people's gate)."""
    if approve_all and listed:
        raise ValueError("untick approve_all to list photos, or remove the list")


class QcDecision(RunInput):
    """Approve every photo waiting for review, or reject the listed ones (the rest pass)."""
    approve_all: bool = Field(True, description="Approve every photo waiting for review")
    rejections: list[PhotoRejection] = Field(default_factory=list, description="Photos to send back (untick approve_all)")
    lead: str = Field("qc-lead", max_length=80, description="Who decides (recorded with each event)")

    @model_validator(mode="after")
    def _consistent(self) -> "QcDecision":
        approve_all_or_list(self.approve_all, self.rejections)
        return self


class DecisionError(ValueError):
    """The decision names a photo or stage that is not waiting / not there; nothing was applied."""


def shown(text: str) -> str:
    """A name from a decision as an error message quotes it: short, control characters escaped."""
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def listing_problems(waiting: list[str], listed: list[str]) -> list[str]:
    """What is wrong with the photos a decision lists, against those waiting (shared by every people's gate)."""
    problems = []
    if not waiting:
        problems.append("no photo of this order is waiting for this decision (it was given already, or the "
                        "order has not reached this gate)")
    unknown = [name for name in dict.fromkeys(listed) if name not in waiting]
    if unknown and waiting:
        problems.append(f"not waiting for review: {', '.join(map(shown, unknown))} "
                        f"(waiting: {', '.join(sorted(waiting))})")
    twice = [name for name in dict.fromkeys(listed) if listed.count(name) > 1]
    if twice:
        problems.append(f"listed more than once: {', '.join(map(shown, twice))}")
    return problems


@dataclass(frozen=True)
class Plan:
    """What a QC decision does, checked against the record and the order's line."""
    passed: tuple[str, ...]                              # photos that pass the gate
    sent_back: tuple[tuple[str, str, str], ...]          # (photo, reason, stage title) for each photo sent back
    item_ids: tuple[int, ...] = field(repr=False)        # the gate items it decides

    def summary(self) -> str:
        parts = [f"{len(self.passed)} passed"]
        parts += [f"{photo} sent back to {stage} ({reason})" for photo, reason, stage in self.sent_back]
        return "; ".join(parts)


def _waiting_items(session: Session, order_id: int) -> dict[str, WorkItem]:
    return {session.get(Photo, i.photo_id).source_name: i
            for i in work.items_in(session, order_id, QC_GATE, WorkStatus.CLAIMED)}


def _line_stages(session: Session, order_id: int) -> dict[str, str]:
    """The order's line's stages, key -> title (the one place this module reads the line)."""
    return {s.key: s.title for s in work.order_line(session, order_id).stages}


def check_decision(session: Session, order_id: int, decision: QcDecision) -> Plan:
    """The decision's :class:`Plan`, or :class:`DecisionError` saying everything that is wrong with it: photos
    not waiting at the gate (or listed twice), stages not in the order's line. Nothing is changed."""
    items = _waiting_items(session, order_id)
    stages = _line_stages(session, order_id)
    problems = listing_problems(list(items), [r.photo for r in decision.rejections])
    bad_stage = [r.send_back_to for r in decision.rejections if r.send_back_to not in stages]
    if bad_stage:
        problems.append(f"no stage {', '.join(map(shown, dict.fromkeys(bad_stage)))} in the order's line "
                        f"(stages: {', '.join(stages)})")
    if problems:
        raise DecisionError(f"order {order_id}: " + "; ".join(problems) + ". Nothing was applied.")
    rejected = {r.photo for r in decision.rejections}
    return Plan(passed=tuple(sorted(name for name in items if name not in rejected)),
                sent_back=tuple((r.photo, r.reason.value, stages[r.send_back_to]) for r in decision.rejections),
                item_ids=tuple(i.id for i in items.values()))


def validate(order_id: int, decision: QcDecision) -> Plan:
    """:func:`check_decision` in a transaction of its own: what the decision would do, before it is given."""
    with transaction() as session:
        return check_decision(session, order_id, decision)


def applied(plan: Plan) -> bool:
    """Whether the gate items ``plan`` decides have been decided (by the order's run, once it took it)."""
    with transaction() as session:
        return all(session.get(WorkItem, i, populate_existing=True).status is not WorkStatus.CLAIMED
                   for i in plan.item_ids)


def awaiting_review(order_id: int) -> list[str]:
    """The photos of this order that passed the automatic checks and wait for the lead, by card name."""
    with transaction() as session:
        return list(_waiting_items(session, order_id))


def apply_decision(order_id: int, decision: QcDecision) -> dict[str, int]:
    """Apply a lead's decision to every photo of the order waiting for review, in one transaction, after
    :func:`check_decision` (in the same transaction) found nothing wrong with it."""
    with transaction() as session:
        plan = check_decision(session, order_id, decision)
        items = _waiting_items(session, order_id)
        rejected = {r.photo: r for r in decision.rejections}
        for name, item in items.items():
            photo = session.get(Photo, item.photo_id)
            if name not in rejected:
                moves.move_item(session, item, WorkStatus.PASSED, actor=decision.lead)
                moves.move_photo(session, photo, PhotoStatus.PASSED, stage=QC_GATE, round=item.round, actor=decision.lead)
                continue
            r = rejected[name]
            reason = f"[{r.reason.value}] {name}" + (f": {r.note}" if r.note else "")
            moves.move_item(session, item, WorkStatus.REJECTED, actor=decision.lead, reason=reason,
                            blamed_stage=r.send_back_to)
            earlier = work.previous_item(session, photo.id, r.send_back_to, item.round + 1)
            again = moves.enqueue(session, order_id=order_id, photo_id=photo.id, stage=r.send_back_to,
                                  round=item.round + 1, input_path=earlier.input_path, actor=decision.lead)
            again.reason = f"sent back by QC: {reason}"
            session.add(again)
    return {"passed": len(plan.passed), "rejected": len(plan.sent_back)}
