"""The senior photographer's review of the originals, after ingest: approve the frames, or cull some with
a reason, before any stage spends time on them. Given in the Prefect UI (the paused run's form) or with
`postline review decide`. A culled photo's queued work is cancelled; it is listed as not delivered."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from prefect.input import RunInput
from pydantic import BaseModel, Field, model_validator
from sqlmodel import Session, col, select

from config.line import Line
from config.text import Note
from qc import cull
from qc.gates import DecisionError, Gate, approve_all_or_list, listing_problems, pictures, register
from qc.reasons import CullReason  # noqa: F401  (the decision's reasons, also qc.originals.CullReason)
from record import cull as cull_record
from record import ratings
from record import moves, work
from record.db import transaction
from record.models import ORIGINAL_REVIEW, CullVerdict, EventKind, Photo, PhotoStatus, StageEvent, WorkStatus


class CulledPhoto(BaseModel):
    photo: str = Field(description="The photo's file name as on the card")
    reason: CullReason = Field(description="Why it is left out")
    note: Note = Field("", max_length=500)


class OriginalsDecision(RunInput):
    """Approve every original, or cull the listed ones (the rest go on)."""
    approve_all: bool = Field(True, description="Every original goes on to the line")
    cull: list[CulledPhoto] = Field(default_factory=list, description="Originals to leave out (untick approve_all)")
    reviewer: str = Field("senior-photographer", max_length=80, description="Who decides (recorded)")

    @model_validator(mode="after")
    def _consistent(self) -> "OriginalsDecision":
        approve_all_or_list(self.approve_all, self.cull)
        return self


@dataclass(frozen=True)
class Plan:
    """What a review of the originals does, checked against the record."""
    approved: tuple[str, ...]
    culled: tuple[tuple[str, str], ...]                  # (photo, reason)
    photo_ids: tuple[int, ...] = field(repr=False)       # the originals it decides

    def summary(self) -> str:
        """"2 approved; C.dng culled (blurred)": each culled frame named, or from ``work.FOLD_FROM`` of them (a
        wedding's hundreds) how many for each reason."""
        if len(self.culled) < work.FOLD_FROM:
            return "; ".join([f"{len(self.approved)} approved"] + [f"{photo} culled ({_words(reason)})"
                                                                 for photo, reason in self.culled])
        reasons = Counter(reason for _, reason in self.culled)
        return (f"{len(self.approved)} approved; {len(self.culled)} culled: "
                + ", ".join(f"{n} {_words(reason)}" for reason, n in reasons.most_common()))

    def counts(self) -> dict[str, int]:
        return {"approved": len(self.approved), "culled": len(self.culled)}


def _words(reason: str) -> str:
    """A cull reason as the photographer reads it: 'duplicate pose' for ``duplicate_pose``."""
    return reason.replace("_", " ")


class OriginalsReview(Gate):
    key = ORIGINAL_REVIEW
    title = "Review of the originals"
    waits = "original waiting for review"
    decision = OriginalsDecision
    listed, by = "cull", "reviewer"

    def enabled(self, line: Line) -> bool:
        return line.review_gate.enabled

    def waiting(self, session: Session, order_id: int) -> dict[str, Photo]:
        """The order's originals in the line that have not been reviewed, by card name."""
        reviewed = set(session.exec(select(StageEvent.photo_id).where(
            StageEvent.order_id == order_id, StageEvent.stage == ORIGINAL_REVIEW)).all())
        return dict(sorted((p.source_name, p) for p in work.photos(session, order_id, PhotoStatus.INGESTED)
                           if p.id not in reviewed))

    def check(self, session: Session, order_id: int, decision: OriginalsDecision) -> Plan:
        """Originals not waiting (or listed twice) are refused."""
        waiting = self.waiting(session, order_id)
        problems = listing_problems(list(waiting), [c.photo for c in decision.cull])
        if problems:
            raise DecisionError(f"order {order_id}: " + "; ".join(problems) + ". Nothing was applied.")
        culled = {c.photo for c in decision.cull}
        return Plan(approved=tuple(sorted(name for name in waiting if name not in culled)),
                    culled=tuple((c.photo, c.reason.value) for c in decision.cull),
                    photo_ids=tuple(p.id for p in waiting.values()))

    def record(self, session: Session, order_id: int, decision: OriginalsDecision) -> None:
        """Each original passed or culled, and each decision recorded beside the cull's suggestion for it
        (record/cull.py: how often the suggestion was right)."""
        first_stage = work.order_line(session, order_id).first.key
        culled = {c.photo: c for c in decision.cull}
        waiting = self.waiting(session, order_id)
        _record_agreement(session, order_id, waiting, set(culled), decision.reviewer)
        passed = []
        for name, photo in waiting.items():
            if name not in culled:
                passed.append(moves.event_row(order_id=order_id, photo_id=photo.id, stage=ORIGINAL_REVIEW,
                                              kind=EventKind.PASSED, actor=decision.reviewer))
                continue
            c = culled[name]
            reason = f"[{c.reason.value}] {name} culled by {decision.reviewer}" + (f": {c.note}" if c.note else "")
            for item in work.items_in(session, order_id, first_stage, WorkStatus.QUEUED):
                if item.photo_id == photo.id:
                    moves.move_item(session, item, WorkStatus.CANCELLED, actor=decision.reviewer, reason=reason)
            moves.move_photo(session, photo, PhotoStatus.CULLED, stage=ORIGINAL_REVIEW, actor=decision.reviewer,
                             reason=reason)
        moves.write_events(session, passed)        # one statement for every photo passed

    def decided(self, session: Session, plan: Plan) -> bool:
        reviewed = set(session.exec(select(StageEvent.photo_id).where(
            col(StageEvent.photo_id).in_(plan.photo_ids), StageEvent.stage == ORIGINAL_REVIEW)).all())
        return reviewed >= set(plan.photo_ids)

    def describe(self, order_id: int, photos: list[str]) -> str:
        from tasks.progress import web_url

        with transaction() as session:
            suggested = suggested_culls(session, order_id, photos)
            kept = kept_picks(session, order_id, photos)
            waiting = self.waiting(session, order_id)
            ids = {name: photo.id for name, photo in waiting.items() if name in photos}
            spec = work.order_line(session, order_id).cull
            rated = ratings.summary(session, order_id, list(ids.values()), spec)
        page = f"{web_url()}/orders/{order_id}/originals"
        listing = (f"**[Open the originals' grid]({page})** ({page})\n\n{pictures(order_id, ids, link_to=page)}\n\n"
                   + "\n".join(f"- {name}" for name in photos))
        reasons = ", ".join(f"`{r.value}`" for r in CullReason)
        by_photographer = sum(c.reason in (CullReason.REJECTED_BY_PHOTOGRAPHER, CullReason.NOT_PICKED)
                              for c in suggested)
        proposal = (f"The form is pre-filled to leave out {len(suggested)} frame(s), listed below with their "
                    f"reasons: {by_photographer} by the photographer's ratings, {len(suggested) - by_photographer} "
                    "as the cull suggests (`postline cull` shows every frame's signals and rating). Remove any you "
                    "keep, add any you cull." if suggested else "The cull suggests keeping every frame.")
        if rated.rated or rated.notes:
            proposal += f"\n\nThe photographer's ratings: {rated.line(spec)}" + ("." if spec.ratings else
                        " (shown only: the order's line has `[cull] ratings = false`).")
        if kept:
            proposal += (f" Kept as the photographer picked them, though the cull suggests leaving them out: "
                         f"{', '.join(kept[:10])}{' ...' if len(kept) > 10 else ''}.")
        return (f"## Review of the originals, order {order_id}\n\n{len(photos)} frame(s):\n\n{listing}\n\n"
                f"{proposal}\n\nApprove all, or untick *approve_all* and list the frames to cull. "
                f"Reasons: {reasons}.")

    def initial(self, order_id: int, photos: list[str]) -> dict:
        """Pre-filled with the photographer's ratings and the cull's suggestions (:func:`suggested_culls`):
        submitted as it is, the form culls exactly those frames (or approves all when there is none)."""
        with transaction() as session:
            suggested = suggested_culls(session, order_id, photos)
        return {"approve_all": not suggested, "cull": suggested}


ORIGINALS = register(OriginalsReview())


# --- what pre-fills the review: the photographer's ratings, then the suggested cull (qc/cull.py) -------------

# The cull's reason codes as the review's reasons; the code itself goes in the note.
_REASON_FOR = {cull.Reason.BLURRED: CullReason.BLURRED, cull.Reason.EYES_CLOSED: CullReason.EYES_CLOSED,
               cull.Reason.OVEREXPOSED: CullReason.EXPOSURE, cull.Reason.UNDEREXPOSED: CullReason.EXPOSURE,
               cull.Reason.DUPLICATE: CullReason.DUPLICATE_POSE, cull.Reason.BURST_NOT_BEST: CullReason.DUPLICATE_POSE}


def suggested_culls(session: Session, order_id: int, photos: list[str] | None = None, *,
                    cull_unpicked: bool | None = None) -> list[CulledPhoto]:
    """What the review of ``photos`` (default: the originals waiting for review) is pre-filled to cull: what
    "accept the suggestions" decides. The photographer's own ratings come first (the line's ``[cull]``: ``ratings``,
    ``pick_*``, ``reject_labels``): a frame they rejected is culled, a frame they picked is kept. The other frames
    follow the cull's suggestion, or, with ``cull_unpicked`` (default: the line's ``unpicked = "cull"``) in an
    order where the photographer picked some, are culled as ``not_picked``."""
    spec = work.order_line(session, order_id).cull
    names = set(ORIGINALS.waiting(session, order_id) if photos is None else photos)
    suggestions = cull.suggest(session, order_id)
    rated = ratings.of_order(session, order_id) if spec.ratings else {}
    if cull_unpicked is None:
        cull_unpicked = spec.unpicked == "cull"
    picks = ratings.any_picked(rated, spec)
    culls = []
    for s in suggestions:
        if s.photo not in names:
            continue
        r = rated.get(s.photo_id)
        suggested = ("; suggested: " + ", ".join(s.reasons)) if s.verdict is CullVerdict.REJECT else ""
        if ratings.rejected(r, spec):
            culls.append(CulledPhoto(photo=s.photo, reason=CullReason.REJECTED_BY_PHOTOGRAPHER, note=(
                f"{ratings.describe(r)} ({ratings.where(r)}){suggested}")[:500]))
        elif ratings.picked(r, spec):
            continue
        elif cull_unpicked and picks:
            culls.append(CulledPhoto(photo=s.photo, reason=CullReason.NOT_PICKED, note=(
                f"not among the photographer's picks ({ratings.pick_rule(spec)}){suggested}")[:500]))
        elif s.verdict is CullVerdict.REJECT:
            culls.append(CulledPhoto(photo=s.photo, reason=_REASON_FOR[s.reasons[0]],
                                     note=("suggested: " + ", ".join(s.reasons) + "; " + "; ".join(s.notes))[:500]))
    return culls


def kept_picks(session: Session, order_id: int, photos: list[str]) -> list[str]:
    """The frames among ``photos`` the cull suggests leaving out that the pre-filled review keeps, because the
    photographer picked them."""
    spec = work.order_line(session, order_id).cull
    if not spec.ratings:
        return []
    rated = ratings.of_order(session, order_id)
    names = set(photos)
    return [s.photo for s in cull.suggest(session, order_id) if s.photo in names
            and s.verdict is CullVerdict.REJECT and ratings.picked(rated.get(s.photo_id), spec)]


def suggested_decision(order_id: int, *, keep: list[str] = (), also_cull: list[CulledPhoto] = (),
                       reviewer: str = "senior-photographer", cull_unpicked: bool | None = None) -> OriginalsDecision:
    """"Accept the suggestions": cull what pre-fills the review (:func:`suggested_culls`: the photographer's
    ratings, then the cull's suggestion) but the frames in ``keep``, and ``also_cull`` (which may also give a
    suggested frame another reason). :class:`DecisionError` if ``keep`` names a frame not suggested, or if
    ``cull_unpicked`` is asked of an order without a pick."""
    with transaction() as session:
        suggested = suggested_culls(session, order_id, cull_unpicked=cull_unpicked)
        if cull_unpicked:
            _some_picked(session, order_id)
    names = {c.photo for c in suggested}
    stray = [name for name in keep if name not in names]
    if stray:
        raise DecisionError(f"order {order_id}: not suggested for culling: {', '.join(map(repr, stray))} "
                            f"(suggested: {', '.join(sorted(names)) or 'none'}). Nothing was applied.")
    extra = {c.photo for c in also_cull}
    culls = [c for c in suggested if c.photo not in set(keep) | extra] + list(also_cull)
    return OriginalsDecision(approve_all=not culls, cull=culls, reviewer=reviewer)


def _some_picked(session: Session, order_id: int) -> None:
    """:class:`DecisionError` unless the photographer picked a frame of the order: keeping only the picks of an
    order without one would cull every frame."""
    spec = work.order_line(session, order_id).cull
    if not spec.ratings or not ratings.any_picked(ratings.of_order(session, order_id), spec):
        why = ("the order's line does not use the photographer's ratings ([cull] ratings = false)" if not spec.ratings
               else f"no frame of order {order_id} carries a pick ({ratings.pick_rule(spec)})")
        raise DecisionError(f"Cannot keep only the photographer's picks: {why}. Nothing was applied.")


def _record_agreement(session: Session, order_id: int, waiting: dict[str, Photo], culled: set[str], actor: str) -> None:
    """Each decided original's decision beside the cull's suggestion for it, and whether they agree."""
    for s in cull.suggest(session, order_id):
        if s.photo in waiting and s.signals is not None and s.signals.phash:
            cull_record.record_decision(session, order_id=order_id, photo_id=s.photo_id, suggested=s.verdict,
                                        reasons=list(s.reasons), actor=actor,
                                        decided=CullVerdict.REJECT if s.photo in culled else CullVerdict.KEEP)
