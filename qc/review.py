"""The QC lead's review: the gate after the automatic checks (when the line asks for it), its form in the Prefect
UI, `postline qc decide` and the web page's order page.

Approve all, or reject listed photos, each with a reason from the studio's taxonomy and the stage it goes
back to. A rejection writes a REJECTED event naming the reason and the stage blamed, and queues the photo
in that stage as a new round; every other photo waiting for review passes (record/rounds.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from prefect.input import RunInput
from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlmodel import Session

from config.line import Line
from config.text import Note
from qc.gates import DecisionError, Gate, approve_all_or_list, listing_problems, pictures, register, shown
from qc.reasons import ReviewReason  # noqa: F401  (the decision's reasons, also qc.review.ReviewReason)
from record import marks, rounds, work
from record.db import transaction
from record.models import QC_GATE, Photo, WorkItem, WorkStatus


MAX_OUTLINE_POINTS = 400


class Region(BaseModel):
    """A box on the photo, in fractions of its frame from the top left (so it fits any size of the photo)."""
    x: float = Field(ge=0, le=1, description="Left edge, 0 (left) to 1 (right)")
    y: float = Field(ge=0, le=1, description="Top edge, 0 (top) to 1 (bottom)")
    w: float = Field(gt=0, le=1, description="Width, a fraction of the photo's width")
    h: float = Field(gt=0, le=1, description="Height, a fraction of the photo's height")
    outline: list[tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]]] | None = Field(
        None, min_length=3, max_length=MAX_OUTLINE_POINTS,
        description="A freehand region instead of the whole box: its outline's points (x, y), inside the box")

    @model_validator(mode="after")
    def _inside(self) -> "Region":
        if self.x + self.w > 1 + 1e-6 or self.y + self.h > 1 + 1e-6:
            raise ValueError("the region reaches outside the photo (x + w and y + h must be at most 1)")
        slack = 2e-3
        if self.outline and not all(self.x - slack <= px <= self.x + self.w + slack
                                    and self.y - slack <= py <= self.y + self.h + slack for px, py in self.outline):
            raise ValueError("the freehand outline reaches outside its box (x, y, w, h)")
        return self

    @classmethod
    def parse(cls, box: str, outline: str = "") -> "Region":
        """A region from its text form, as the review page's form and `postline qc decide --region/--outline` give
        it: the box ``x,y,w,h`` and, for a freehand region, its outline ``x,y x,y ...`` (what
        :meth:`outline_text` writes). Raises ValueError saying, in one line, what is wrong with it."""
        try:
            values = [float(part) for part in box.split(",")]
            points = [tuple(float(v) for v in point.split(",")) for point in outline.split()] or None
        except ValueError:
            raise ValueError("write numbers: the box as x,y,w,h, an outline as x,y x,y ...") from None
        if len(values) != 4:
            raise ValueError(f"a box is 4 numbers x,y,w,h, not {len(values)}")
        odd = next((point for point in points or [] if len(point) != 2), None)
        if odd is not None:
            raise ValueError(f"each point of an outline is 2 numbers x,y, not {len(odd)}")
        try:
            return cls(x=values[0], y=values[1], w=values[2], h=values[3], outline=points)
        except ValidationError as exc:
            raise ValueError("; ".join(_said(e) for e in exc.errors())) from None

    def box(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.w, self.h

    def outline_text(self) -> str | None:
        """The outline as the record keeps it (and SVG draws it): ``x,y x,y ...``."""
        return " ".join(f"{px:.4f},{py:.4f}" for px, py in self.outline) if self.outline else None

    def described(self) -> str:
        shape = f"freehand region of {len(self.outline)} points within" if self.outline else "region"
        return (f"{shape} {self.w:.0%} x {self.h:.0%} of the frame at {self.x:.0%} from the left, "
                f"{self.y:.0%} from the top")


def _said(error: dict) -> str:
    """One error of a Region's validation, as a person reads it: 'w: Input should be greater than 0'."""
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


class PhotoRejection(BaseModel):
    photo: str = Field(description="The photo's file name as on the card, e.g. DSC_0003.dng")
    reason: ReviewReason = Field(description="What is wrong")
    send_back_to: str = Field(description="Stage key to redo it, e.g. liquify_skin (see `postline queue stages`)")
    note: Note = Field("", max_length=500, description="What the retoucher should fix")
    region: Region | None = Field(None, description="Where on the photo (optional): drawn for the retoucher, "
                                                    "written as a mask beside the working file they pull")


class QcDecision(RunInput):
    """Approve every photo waiting for review, or reject the listed ones (the rest pass)."""
    approve_all: bool = Field(True, description="Approve every photo waiting for review")
    rejections: list[PhotoRejection] = Field(default_factory=list, description="Photos to send back (untick approve_all)")
    lead: str = Field("qc-lead", max_length=80, description="Who decides (recorded with each event)")

    @model_validator(mode="after")
    def _consistent(self) -> "QcDecision":
        approve_all_or_list(self.approve_all, self.rejections)
        return self


@dataclass(frozen=True)
class Plan:
    """What a QC decision does, checked against the record and the order's line."""
    passed: tuple[str, ...]                              # photos that pass the gate
    sent_back: tuple[tuple[str, str, str], ...]          # (photo, reason, stage title) for each photo sent back
    item_ids: tuple[int, ...] = field(repr=False)        # the gate items it decides
    regions: tuple[tuple[str, str], ...] = ()            # (photo, the marked region described) for each one marked
    remade: tuple[str, ...] = ()                         # photos sent back where they come back alike (remade_alike)

    def summary(self) -> str:
        marked = dict(self.regions)
        parts = [f"{len(self.passed)} passed"]
        parts += [f"{photo} sent back to {stage} ({reason}" + (f", {marked[photo]})" if photo in marked else ")")
                  for photo, reason, stage in self.sent_back]
        return "; ".join(parts) + (f". {remade_said(self.remade)}" if self.remade else "")

    def counts(self) -> dict[str, int]:
        return {"passed": len(self.passed), "rejected": len(self.sent_back)}


def remade_said(photos: tuple[str, ...] | list[str]) -> str:
    """What a lead is told of photos sent back to a stage that makes them again alike (Line.remade_alike)."""
    return (f"Note: {', '.join(photos)} will come back as {'it' if len(photos) == 1 else 'they'} went: people work "
            "no stage from there on, and the automatic stages work a rework as they did the first (only grading's "
            "rework changes a photo: its exposure rescued)")


class QcReview(Gate):
    key = QC_GATE
    title = "QC review"
    waits = "photo waiting for QC review"
    decision = QcDecision
    listed, by = "rejections", "lead"

    def enabled(self, line: Line) -> bool:
        return line.qc_gate.human_review

    def waiting(self, session: Session, order_id: int) -> dict[str, WorkItem]:
        """The gate items that passed the automatic checks and wait for the lead (claimed at the gate without a
        lease: record.rounds.await_lead); not those the checks are still inspecting (claimed with one), which the
        lead could otherwise pass while the checks send them back. By card name, in order (`qc pending` lists them
        so, as the review page and the form do)."""
        return dict(sorted(((session.get(Photo, i.photo_id).source_name, i)
                            for i in work.items_in(session, order_id, QC_GATE, WorkStatus.CLAIMED)
                            if i.lease_expires_at is None), key=lambda named: named[0]))

    def check(self, session: Session, order_id: int, decision: QcDecision) -> Plan:
        """Photos not waiting at the gate (or listed twice) and stages not in the order's line are refused."""
        items = self.waiting(session, order_id)
        line = work.order_line(session, order_id)
        stages = {s.key: s.title for s in line.stages}
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
                    item_ids=tuple(i.id for i in items.values()),
                    regions=tuple((r.photo, r.region.described()) for r in decision.rejections if r.region),
                    remade=tuple(r.photo for r in decision.rejections if line.remade_alike(r.send_back_to)))

    def record(self, session: Session, order_id: int, decision: QcDecision) -> None:
        rejected = {r.photo: r for r in decision.rejections}
        for name, item in self.waiting(session, order_id).items():
            if name not in rejected:
                rounds.pass_photo(session, item, actor=decision.lead)
                continue
            r = rejected[name]
            again = rounds.send_back(session, item, stage=r.send_back_to, actor=decision.lead,
                                     reason=f"[{r.reason.value}] {name}" + (f": {r.note}" if r.note else ""))
            if r.region is not None:
                marks.add_mark(session, item=again, rejected=item, box=r.region.box(), actor=decision.lead,
                               outline=r.region.outline_text(),
                               note=f"{r.reason.value.replace('_', ' ')}" + (f": {r.note}" if r.note else ""))

    def decided(self, session: Session, plan: Plan) -> bool:
        return all(session.get(WorkItem, i, populate_existing=True).status is not WorkStatus.CLAIMED
                   for i in plan.item_ids)

    def describe(self, order_id: int, photos: list[str]) -> str:
        from tasks.progress import review_url
        from tasks.runs import line_of

        line = line_of(order_id)
        stages = ", ".join(f"`{s.key}` ({s.title}" + (": automatic, a photo comes back as it went" if
                                                     line.remade_alike(s.key) else "") + ")" for s in line.stages)
        reasons = ", ".join(f"`{r.value}`" for r in ReviewReason)
        listing = "\n".join(f"- {name}" for name in photos)
        page = review_url(order_id)
        with transaction() as session:
            ids = {name: item.photo_id for name, item in self.waiting(session, order_id).items() if name in photos}
        return (f"## QC review, order {order_id}\n\n**[Open the review page]({page})** ({page}): every photo as an "
                "image, before and after, to zoom, pass, or reject with a marked region.\n\n"
                f"{len(photos)} photo(s) passed the automatic checks:\n\n{pictures(order_id, ids, link_to=page)}\n\n"
                f"{listing}\n\nApprove all, or untick *approve_all* and list rejections. "
                f"Reasons: {reasons}. Stages: {stages}.")


QC = register(QcReview())
