"""An order's camera bodies and their clocks: `postline order cameras N` lists them, `postline order clock N` sets
a body's clock right (record.clocks says what uses it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from config.errors import Invalid
from record import clocks, work
from record.db import transaction
from record.models import OrderStatus, Photo

_SHIFT = re.compile(r"^([+-])?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")
_CLOCK = re.compile(r"^([+-])?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")      # H:MM:SS only: is "1:00" a minute or an hour?


class ClockError(Invalid):
    """A camera or a photo that does not fit; the message says what to give instead."""


def parse_shift(text: str) -> timedelta:
    """"+3m12s", "-1h", "+1d2h", "90s", "+0:03:12", "-1:00:00" -> a timedelta. Raises ValueError with an example."""
    text = text.strip().replace(" ", "")
    if m := _CLOCK.match(text):
        sign, hours, minutes, seconds = m.groups()
        value = timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))
    elif (m := _SHIFT.match(text)) and any(m.groups()[1:]):
        sign, days, hours, minutes, seconds = m.groups()
        value = timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
                          seconds=float(seconds or 0))
    else:
        raise ValueError(f"{text!r} is not a shift: write it as +3m12s, -1h, +1d2h or +0:03:12 (+: the camera's clock "
                         "was behind, its photos were taken later than it says)")
    return -value if sign == "-" else value


@dataclass(frozen=True)
class ClockSet:
    """A body's clock just set right."""
    camera: str
    shift: timedelta
    how: str
    photos: int                  # the body's photos in the order
    delivered: bool              # the order has a delivery already (made before the shift)


def cameras(order_id: int) -> list[clocks.Camera]:
    with transaction() as session:
        work.get_order(session, order_id)
        return clocks.cameras(session, order_id)


def _camera(found: list[clocks.Camera], wanted: str) -> clocks.Camera:
    """The order's body ``wanted`` names: its whole name, or a part of it only it has ("R6", "#1234")."""
    named = [c for c in found if c.name != clocks.NO_CAMERA]
    exact = [c for c in named if c.name.lower() == wanted.strip().lower()]
    matches = exact or [c for c in named if wanted.strip().lower() in c.name.lower()]
    if len(matches) == 1:
        return matches[0]
    listed = "; ".join(c.name for c in named) or "none: its files name no camera"
    if not matches:
        raise ClockError(f"no camera {wanted!r} in this order. Its cameras: {listed}")
    raise ClockError(f"{wanted!r} names {len(matches)} cameras of this order: "
                     f"{'; '.join(c.name for c in matches)}. Give more of the name (its serial number: '#...')")


def _photo(session, order_id: int, name: str) -> Photo:  # noqa: ANN001 - a record session
    """The order's photo ``name`` names: its name on the card, or its file name alone when only one has it."""
    photos = [p for p in work.photos(session, order_id) if p.status not in clocks.NOT_SHOT]
    found = work.named(photos, name)
    if (wrong := work.which_photo(order_id, name, found)) is not None:
        raise ClockError(wrong)
    if found[0].capture_time is None:
        raise ClockError(f"{found[0].source_name} has no capture time (its file gives none): choose another photo")
    return found[0]


def set_clock(order_id: int, *, actor: str, camera: str | None = None, shift: timedelta | None = None,
              match: tuple[str, str] | None = None) -> ClockSet:
    """Set one body's clock right for the order: by ``shift`` (added to its photos' times), or by ``match``
    (a photo of that body, and a photo of another body taken at the same moment: the first gets the second's
    time, the second's own body's shift included)."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        found = clocks.cameras(session, order_id)
        if match is not None:
            photo, reference = _photo(session, order_id, match[0]), _photo(session, order_id, match[1])
            name = clocks.camera_of(photo)
            if name is None:
                raise ClockError(f"{photo.source_name} names no camera: its clock cannot be told from the others'")
            if clocks.camera_of(reference) == name:
                raise ClockError(f"{photo.source_name} and {reference.source_name} are both from {name}: give a "
                                 "photo of another camera taken at the same moment as the second")
            shifts = clocks.shifts(session, order_id)
            shift = clocks.taken(reference, shifts) - photo.capture_time
            how = f"{photo.source_name} taken at the same moment as {reference.source_name}"
            body = next(c for c in found if c.name == name)
        else:
            body = _camera(found, camera or "")
            name, how = body.name, f"shifted {clocks.describe(shift)}"
        try:
            clocks.set_shift(session, order_id, name, shift, how=how, actor=actor)
        except ValueError as exc:
            raise ClockError(f"{name}: {exc}") from None
        delivered = bool(order.delivery_path) or order.status is OrderStatus.DELIVERED
        return ClockSet(camera=name, shift=shift, how=how, photos=body.photos, delivered=delivered)
