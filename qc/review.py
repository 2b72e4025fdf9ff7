"""The QC lead's decision: the form a lead fills in the Prefect UI (or `postline qc decide`), and what it does.

Approve all, or reject listed photos, each with a reason from the studio's taxonomy and the stage it goes
back to. A rejection writes a REJECTED event naming the reason and the stage blamed, and queues the photo
in that stage as a new round; every other photo waiting for review passes."""

from __future__ import annotations

from enum import StrEnum

from prefect.input import RunInput
from pydantic import BaseModel, Field, model_validator

from tasks.runs import line_of
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


def awaiting_review(order_id: int) -> list[str]:
    """The photos of this order that passed the automatic checks and wait for the lead, by card name."""
    with transaction() as session:
        items = work.items_in(session, order_id, QC_GATE, WorkStatus.CLAIMED)
        return [session.get(Photo, item.photo_id).source_name for item in items]


def apply_decision(order_id: int, decision: QcDecision) -> dict[str, int]:
    """Apply a lead's decision to every photo of the order waiting for review, in one transaction."""
    stages = {s.key for s in line_of(order_id).stages}
    with transaction() as session:
        items = {session.get(Photo, i.photo_id).source_name: i
                 for i in work.items_in(session, order_id, QC_GATE, WorkStatus.CLAIMED)}
        unknown = [r.photo for r in decision.rejections if r.photo not in items]
        bad_stage = [r.send_back_to for r in decision.rejections if r.send_back_to not in stages]
        if unknown or bad_stage:
            raise DecisionError(
                (f"not waiting for review: {', '.join(unknown)} (waiting: {', '.join(sorted(items))}). " if unknown else "")
                + (f"no stage {', '.join(bad_stage)} (stages: {', '.join(sorted(stages))})." if bad_stage else ""))
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
    return {"passed": len(items) - len(rejected), "rejected": len(rejected)}
