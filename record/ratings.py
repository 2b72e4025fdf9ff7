"""The photographer's ratings in the production record (record.models.PhotoRating: stars, the reject flag, a
colour label, Photo Mechanic's tag), and what they say against the order's line (config/line.py, CullSpec: which
stars and labels are picks, which labels are rejects).

Data functions take ``session`` and do not commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from config.line import CullSpec
from record import work
from record.cull import taken
from record.clocks import NOT_SHOT
from record.models import CullDecision, CullVerdict, PhotoRating, utcnow


def row(order_id: int, photo_id: int, found) -> PhotoRating | None:  # noqa: ANN001 - tasks.pixels.ratings.FrameRating
    """The record's row of a rating ``found`` on a photo (None when there is nothing to keep: no rating, no note)."""
    if found is None or (found.empty and not found.note):
        return None
    return PhotoRating(photo_id=photo_id, order_id=order_id, stars=found.stars, label=found.label,
                       tagged=found.tagged, source=(found.source or "")[:300] or None,
                       note=(found.note or "")[:500] or None)


def of_order(session: Session, order_id: int) -> dict[int, PhotoRating]:
    """Every rated photo of an order (or with a note), by photo id."""
    return {r.photo_id: r for r in session.exec(select(PhotoRating).where(PhotoRating.order_id == order_id)).all()}


def put(session: Session, order_id: int, photo_id: int, found) -> PhotoRating | None:  # noqa: ANN001
    """Record ``found`` as the photo's rating, in place of what was recorded; none: the row is removed."""
    old = session.get(PhotoRating, photo_id)
    new = row(order_id, photo_id, found)
    if new is None:
        if old is not None:
            session.delete(old)
        return None
    if old is None:
        session.add(new)
        return new
    for field in ("stars", "label", "tagged", "source", "note"):
        setattr(old, field, getattr(new, field))
    old.read_at = utcnow()
    session.add(old)
    return old


def rated(rating: PhotoRating | None) -> bool:
    """Something the photographer gave: stars, a reject, a label or a tag (not only a note)."""
    return rating is not None and bool(rating.stars or rating.label or rating.tagged)


def rejected(rating: PhotoRating | None, spec: CullSpec) -> bool:
    """The photographer rejected the frame: the reject flag (-1), or a label the line counts as a reject."""
    return rating is not None and (rating.stars == -1 or _labelled(rating, spec.reject_labels))


def picked(rating: PhotoRating | None, spec: CullSpec) -> bool:
    """The photographer picked the frame: ``pick_stars`` or more, Photo Mechanic's tag, or a label the line counts
    as a pick (and did not reject it)."""
    if rating is None or rejected(rating, spec):
        return False
    return (rating.stars or 0) >= spec.pick_stars or rating.tagged or _labelled(rating, spec.pick_labels)


def any_picked(rated: dict[int, PhotoRating], spec: CullSpec) -> bool:
    """Whether the photographer picked any of the frames ``rated`` (:func:`of_order`)."""
    return any(picked(r, spec) for r in rated.values())


def _labelled(rating: PhotoRating, labels: tuple[str, ...]) -> bool:
    return rating.label is not None and rating.label.casefold() in {label.casefold() for label in labels}


def describe(rating: PhotoRating | None) -> str:
    """"★★★, Green, tagged", "rejected", or "-"."""
    if rating is None:
        return "-"
    parts = ["rejected" if rating.stars == -1 else "★" * rating.stars if rating.stars else "", rating.label or "",
             "tagged" if rating.tagged else ""]
    return ", ".join(p for p in parts if p) or "-"


def where(rating: PhotoRating) -> str:
    """Where it was read: the sidecar's card name, or "in the file"."""
    return rating.source or "in the file"


def pick_rule(spec: CullSpec) -> str:
    """What counts as a pick in the line, in words: "1 star or more, tagged"."""
    stars = f"{spec.pick_stars} star{'s' if spec.pick_stars > 1 else ''} or more"
    labels = f", or labelled {', '.join(spec.pick_labels)}" if spec.pick_labels else ""
    return f"{stars}, tagged{labels}"


@dataclass(frozen=True)
class Summary:
    """An order's ratings in figures."""
    photos: int                # photos of the order in the line
    rated: int                 # ... rated by the photographer
    picked: int
    rejected: int
    from_sidecars: int         # rated photos whose rating came from a sidecar
    notes: tuple[str, ...]     # ratings that could not be read

    def line(self, spec: CullSpec) -> str:
        """One line for a lead: "412 of 1204 photo(s) rated by the photographer (400 from sidecars): 380 picked
        (1 star or more, tagged), 32 rejected"."""
        if not self.rated:
            said = f"no rating from the photographer on any of the {self.photos} photo(s)"
        else:
            said = (f"{self.rated} of {self.photos} photo(s) rated by the photographer ({self.from_sidecars} from "
                    f"sidecars): {self.picked} picked ({pick_rule(spec)}), {self.rejected} rejected")
        return said + (f"; {len(self.notes)} rating(s) could not be read" if self.notes else "")


def summary(session: Session, order_id: int, photo_ids: list[int], spec: CullSpec) -> Summary:
    """:class:`Summary` of the ratings of ``photo_ids`` (the order's photos in the line)."""
    recorded = of_order(session, order_id)
    rows = [recorded[i] for i in photo_ids if i in recorded]
    given = [r for r in rows if rated(r)]
    return Summary(photos=len(photo_ids), rated=len(given), picked=sum(picked(r, spec) for r in given),
                   rejected=sum(rejected(r, spec) for r in given),
                   from_sidecars=sum(r.source is not None for r in given),
                   notes=tuple(r.note for r in rows if r.note))


def in_a_line(session: Session, order_id: int) -> str | None:
    """The order's ratings in a line (:meth:`Summary.line`), for `postline status` and the order's report; None
    when no photo of it was rated and none could not be read."""
    in_line = [p.id for p in work.photos(session, order_id)
               if p.status not in NOT_SHOT]
    line = work.order_line(session, order_id)
    found = summary(session, order_id, in_line, line.cull)
    if not (found.rated or found.notes):
        return None
    said = found.line(line.cull)
    if found.rejected and not (line.review_gate.enabled and line.cull.ratings):
        said += (" (the rejects are not left out: only the review of the originals culls them, which this order's "
                 "line does not have, or does not fill from ratings: `[review_gate] enabled = true` and `[cull] "
                 "ratings = true` in the line file)")
    return said


@dataclass(frozen=True)
class AgainstReview:
    """How the review of the originals decided the frames the photographer had rated: how often a person kept a
    frame the photographer rejected, or culled one they picked."""
    decided: int               # rated frames decided at the review
    rejects: int               # ... that the photographer rejected
    rejects_kept: int          # ... kept at the review
    picks: int                 # ... that the photographer picked
    picks_culled: int          # ... culled at the review


def against_review(session: Session, *, since: datetime | None = None, until: datetime | None = None,
                   order_id: int | None = None) -> AgainstReview:
    """:class:`AgainstReview` over the review decisions taken in [since, until) (of one order, if given), each
    frame's rating read against its order's line (record/cull.py records the decisions)."""
    query = taken(select(CullDecision.order_id, CullDecision.decided, PhotoRating).join(
        PhotoRating, PhotoRating.photo_id == CullDecision.photo_id), since=since, until=until, order_id=order_id)
    specs: dict[int, CullSpec] = {}
    decided = rejects = rejects_kept = picks = picks_culled = 0
    for order, verdict, rating in session.exec(query).all():
        if not rated(rating):
            continue
        if order not in specs:                           # one order's line read once, not per decision
            specs[order] = work.order_line(session, order).cull
        spec = specs[order]
        culled = CullVerdict(verdict) is CullVerdict.REJECT
        decided += 1
        if rejected(rating, spec):
            rejects, rejects_kept = rejects + 1, rejects_kept + (not culled)
        elif picked(rating, spec):
            picks, picks_culled = picks + 1, picks_culled + culled
    return AgainstReview(decided, rejects, rejects_kept, picks, picks_culled)
