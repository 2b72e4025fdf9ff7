"""Reason codes of rejections, as rows the figures can count.

A rejection's reason reads ``[code1,code2] what was wrong``: the QC gate writes every check that failed
(``[clipped,colour_cast] DSC_0003.dng ...``), the QC lead and the senior photographer one code each. The codes
are also written as rows of ``stage_event_reasons`` (one per code) with the event, so SQL counts a rejection
once under each of its reasons. :func:`backfill` writes them for events recorded before the table existed.
"""

from __future__ import annotations

import re

from sqlalchemy import exists, insert, select
from sqlmodel import Session

from record.models import EventKind, StageEvent, StageEventReason

CODES = re.compile(r"^\[([^\]]{1,400})\]")
CODE_LENGTH = 40


def codes_in(reason: str | None) -> list[str]:
    """The codes a reason starts with (``[clipped,colour_cast] ...`` -> ``['clipped', 'colour_cast']``), in
    order, each once; none when it does not start with ``[...]``."""
    found = CODES.match(reason or "")
    if not found:
        return []
    codes = [part.strip()[:CODE_LENGTH] for part in found.group(1).split(",")]
    return list(dict.fromkeys(code for code in codes if code))


def in_words(reason: str) -> str:
    """A reason as a retoucher reads it: its codes in words after what was wrong (``[over_smoothed_skin]
    DSC_0001.dng: pores gone`` -> ``DSC_0001.dng: pores gone (over smoothed skin)``); a reason without codes as
    it is."""
    found = CODES.match(reason)
    if not found or not (codes := codes_in(reason)):
        return reason
    words = ", ".join(code.replace("_", " ") for code in codes)
    rest = reason[found.end():].strip()
    return f"{rest} ({words})" if rest else words


def record_codes(session: Session, event: StageEvent) -> None:
    """Write the reason codes of a REJECTED ``event`` just added to ``session`` (flushes it for its id)."""
    if not has_codes(event.kind, event.reason):
        return
    session.flush()
    write_codes(session, event.id, event.reason)


def has_codes(kind: EventKind, reason: str | None) -> bool:
    """Whether an event of ``kind`` with ``reason`` has reason codes to write: a rejection whose reason starts
    with them."""
    return kind is EventKind.REJECTED and bool(codes_in(reason))


def write_codes(session: Session, event_id: int, reason: str | None) -> None:
    """The reason codes of the written event ``event_id`` (none when ``reason`` has none), one row each."""
    if codes := codes_in(reason):
        session.execute(insert(StageEventReason.__table__), [{"event_id": event_id, "code": code} for code in codes])


def backfill(session: Session) -> int:
    """Reason rows for REJECTED events recorded before there were any (an upgraded record); returns how many
    events got them. Safe to run again: events that have rows are skipped."""
    reasons = StageEventReason.__table__
    events = StageEvent.__table__
    rows = session.execute(
        select(events.c.id, events.c.reason).where(
            events.c.kind == EventKind.REJECTED, events.c.reason.like("[%"),
            ~exists().where(reasons.c.event_id == events.c.id))
    ).all()
    done = 0
    for event_id, reason in rows:
        codes = codes_in(reason)
        session.add_all(StageEventReason(event_id=event_id, code=code) for code in codes)
        done += bool(codes)
    session.flush()
    return done
