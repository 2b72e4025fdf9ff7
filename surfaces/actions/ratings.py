"""The photographer's ratings of an order (record.ratings): what they are, and reading them again from the card
folder for the originals still waiting for review (the photographer rated the frames after the card was taken
in). `postline order ratings N [--read-again]` is its command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.errors import Invalid
from qc.originals import ORIGINALS
from record import ratings, work
from record.db import transaction
from record.clocks import NOT_SHOT
from record.models import PhotoStatus
from tasks.ratings import read_rating


@dataclass(frozen=True)
class OrderRatings:
    summary: ratings.Summary
    line: str                      # the summary in words
    used: bool                     # the order's line pre-fills its review with them ([cull] ratings)
    review: bool                   # the order's line has a review of the originals
    unpicked_culled: bool          # [cull] unpicked = "cull"
    notes: tuple[tuple[str, str], ...]    # (photo, why its rating could not be read)
    waiting: int = 0               # originals waiting for review now
    read_again: int | None = None  # originals whose ratings were read again
    changed: int = 0               # ... whose rating changed


def order_ratings(order_id: int, *, read_again: bool = False) -> OrderRatings:
    """The order's ratings; with ``read_again``, first read again from its card folder those of the originals
    still waiting for review (each sidecar, else the archived original's own rating)."""
    again = changed = None
    if read_again:
        again, changed = _read_again(order_id)
    with transaction() as session:
        work.get_order(session, order_id)
        line = work.order_line(session, order_id)
        photos = {p.id: p.source_name for p in work.photos(session, order_id) if p.status not in NOT_SHOT}
        summary = ratings.summary(session, order_id, list(photos), line.cull)
        notes = tuple((photos[r.photo_id], r.note) for r in ratings.of_order(session, order_id).values()
                      if r.note and r.photo_id in photos)
        waiting = len(ORIGINALS.waiting(session, order_id))
    return OrderRatings(summary=summary, line=summary.line(line.cull), used=line.cull.ratings,
                        review=line.review_gate.enabled, unpicked_culled=line.cull.unpicked == "cull",
                        notes=tuple(sorted(notes)), waiting=waiting, read_again=again, changed=changed or 0)


def _read_again(order_id: int) -> tuple[int, int]:
    """(originals read again, those whose rating changed)."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        card = Path(order.card_folder)
        if not card.is_dir():
            raise Invalid(f"order {order_id}'s card folder {card} is not there: nothing was read again (the ratings "
                          "read at ingest stay). Put the card's copy back at that path, sidecars beside the photos.")
        waiting = list(ORIGINALS.waiting(session, order_id).values())
        before = ratings.of_order(session, order_id)
        old = {p.id: _key(before.get(p.id)) for p in waiting}
        copies = {}           # the same bytes elsewhere on the card, set aside: their sidecars rate the same picture
        for copy in work.photos(session, order_id, PhotoStatus.DUPLICATE):
            copies.setdefault(copy.duplicate_of, []).append(copy)
    read = {p.id: _rating_of(card, p, copies.get(p.id, [])) for p in waiting if p.original_path}
    changed = 0
    with transaction() as session:
        still = {p.id for p in ORIGINALS.waiting(session, order_id).values()}
        for photo_id, found in read.items():
            if photo_id in still:                 # not decided meanwhile
                changed += _key(ratings.put(session, order_id, photo_id, found)) != old[photo_id]
    return len(read), changed


def _rating_of(card: Path, photo, copies: list):  # noqa: ANN001, ANN202 - Photo, FrameRating
    """The photo's rating as its card has it: its own sidecar's (or the file's), else a byte-identical copy's."""
    found = read_rating(card, photo.source_name, Path(photo.original_path))
    for copy in copies:
        if found is not None and not found.empty:
            break
        if copy.sha256 == photo.sha256:
            other = read_rating(card, copy.source_name, Path(copy.original_path or card / copy.source_name))
            found = other if other is not None and not other.empty else found
    return found


def _key(row) -> tuple | None:  # noqa: ANN001 - record.models.PhotoRating
    return None if row is None else (row.stars, row.label, row.tagged, row.source, row.note)
