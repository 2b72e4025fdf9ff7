"""Camera clocks: when each photo of an order was taken, with its body's clock set right.

Two photographers at a wedding rarely have their cameras' clocks in step: one body minutes ahead of the other
puts its frames of the ceremony after the other's frames of the vows. Everything that shows or numbers photos in
shooting order (the delivery's sequence numbers and its files' capture times, the client's gallery, the cull's
order and its burst groups) uses :func:`taken`: the time the camera wrote (``photos.capture_time``, never changed)
plus the shift a lead set for that body (``clock_shifts``). Without a shift, the camera's own time.

A body is its make, model and serial number (:func:`camera_of`); a file that declares no serial number is known
by make and model only, so two such bodies of one model are one camera here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from record.models import ClockShift, Photo, PhotoStatus, utcnow

NOT_SHOT = (PhotoStatus.REJECTED, PhotoStatus.DUPLICATE)   # never in the line, or a copy of a photo that is
NO_CAMERA = "(no camera named)"
LARGEST_SHIFT = timedelta(days=36525)   # a clock reset to its maker's year by a flat battery is years off; not a century


def camera_of(photo: Photo) -> str | None:
    """The body that took ``photo``, named as a lead reads it ("Canon EOS R5 #032021001234"); None when the
    file names no camera."""
    return camera_named(photo.camera_make, photo.camera_model, photo.camera_serial)


def camera_named(make: str | None, model: str | None, serial: str | None) -> str | None:
    """:func:`camera_of` from a photo's three columns."""
    make, model = (make or "").strip(), (model or "").strip()
    if not model and not make:
        return None
    name = model if not make or model.lower().startswith(make.split()[0].lower()) else f"{make} {model}".strip()
    return f"{name} #{serial}" if serial else name


def shifts(session: Session, order_id: int) -> dict[str, timedelta]:
    """Each body's shift the order's leads set (bodies without one: none)."""
    rows = session.exec(select(ClockShift).where(ClockShift.order_id == order_id)).all()
    return {row.camera: timedelta(seconds=row.seconds) for row in rows}


def shift_of(photo: Photo, by_camera: dict[str, timedelta]) -> timedelta:
    return by_camera.get(camera_of(photo) or "", timedelta(0))


def taken(photo: Photo, by_camera: dict[str, timedelta]) -> datetime | None:
    """When ``photo`` was taken: its camera's time with its body's shift (None: the file gave no time)."""
    return photo.capture_time + shift_of(photo, by_camera) if photo.capture_time else None


def shooting_order(by_camera: dict[str, timedelta]):  # noqa: ANN201 - a sort key over photos
    """A sort key putting photos in the order they were taken: photos without a time last, then by name."""
    def key(photo: Photo) -> tuple:
        when = taken(photo, by_camera)
        return when is None, when or datetime.min, photo.source_name
    return key


@dataclass(frozen=True)
class Camera:
    """One body of an order, as ``postline order cameras`` lists it."""
    name: str
    photos: int
    first: datetime | None       # its first and last frames, on its own clock
    last: datetime | None
    shift: timedelta
    how: str | None              # what the lead gave, and who, when
    serial: bool                 # its files declare a serial number


def cameras(session: Session, order_id: int) -> list[Camera]:
    """The order's bodies, the one whose first frame came first (set right) first; photos that name no camera
    under :data:`NO_CAMERA`. Refused files and copies are not counted."""
    photos = session.exec(select(Photo).where(Photo.order_id == order_id,
                                              Photo.status.not_in(NOT_SHOT))).all()  # type: ignore[union-attr]
    rows = {row.camera: row for row in session.exec(select(ClockShift).where(ClockShift.order_id == order_id))}
    groups: dict[str | None, list[Photo]] = {}
    for photo in photos:
        groups.setdefault(camera_of(photo), []).append(photo)
    out = []
    for name, members in groups.items():
        times = [p.capture_time for p in members if p.capture_time]
        row = rows.get(name or "")
        out.append(Camera(name=name or NO_CAMERA, photos=len(members), first=min(times, default=None),
                          last=max(times, default=None), shift=timedelta(seconds=row.seconds) if row else timedelta(0),
                          how=f"{row.how} (set by {row.set_by}, {row.set_at:%Y-%m-%d %H:%M} UTC)" if row else None,
                          serial=any(p.camera_serial for p in members)))
    return sorted(out, key=lambda c: (c.first is None, (c.first + c.shift) if c.first else datetime.min, c.name))


def summary(order_id: int, found: list[Camera]) -> str | None:
    """The order's bodies in a line when it has several, and whether their clocks were set right; None for one."""
    named = [c for c in found if c.name != NO_CAMERA]
    if len(named) < 2:
        return None
    bodies = ", ".join(f"{c.name} ({c.photos}{', ' + describe(c.shift) if c.how else ''})" for c in named)
    state = "clocks set right" if any(c.how for c in named) else "clocks as the cameras wrote them, not compared"
    return f"{bodies}; {state}: `postline order cameras {order_id}`"


def set_shift(session: Session, order_id: int, camera: str, shift: timedelta, *, how: str, actor: str) -> ClockShift:
    """Record that ``camera``'s clock was ``shift`` behind the true time (negative: ahead) for the order; a shift
    set before for it is replaced. Does not commit."""
    if abs(shift) > LARGEST_SHIFT:
        raise ValueError(f"a shift of {describe(shift)} is more than a clock is ever off: check the value "
                         "(the most is 100 years)")
    row = session.exec(select(ClockShift).where(ClockShift.order_id == order_id, ClockShift.camera == camera)).first()
    row = row or ClockShift(order_id=order_id, camera=camera, seconds=0.0, how="", set_by=actor)
    row.seconds, row.how, row.set_by, row.set_at = shift.total_seconds(), how[:300], actor[:80], utcnow()
    session.add(row)
    session.flush()
    return row


def describe(shift: timedelta) -> str:
    """A shift as a lead writes it: "+3m12s", "-1h", "0s"."""
    seconds = round(shift.total_seconds(), 3)
    sign, seconds = ("-" if seconds < 0 else "+" if seconds > 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    parts = [f"{int(days)}d" if days else "", f"{int(hours)}h" if hours else "", f"{int(minutes)}m" if minutes else "",
             (f"{rest:g}s" if rest else "")]
    return sign + ("".join(parts) or "0s")
