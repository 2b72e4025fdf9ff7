"""Sign-ins to the web page, kept in the record so they can be ended at once: signing out ends one, a password
change ends every sign-in of that person, and the next request with that cookie is a visitor's.

The record keeps the SHA-256 of each sign-in's token, never the token. Times are UTC; the web page passes its
own ``now`` (its clock). Data functions take ``session`` and do not commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from record.models import Person, SignIn, SignInEnd

SEEN_EVERY = timedelta(minutes=1)   # last_seen_at is written at most this often: a read stays a read
KEEP_ENDED = timedelta(days=30)     # ended or expired sign-ins are deleted this long after


@dataclass(frozen=True)
class Found:
    """What a cookie's token is in the record: a live sign-in (``person``), or how it ended (``ended``)."""
    sign_in: SignIn
    person: Person | None               # None unless the sign-in counts now
    ended: SignInEnd | None = None      # why it does not count, when it was ended rather than expired


def _utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; every time in the record is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def start(session: Session, *, person: Person, token_sha256: str, now: datetime, lasts: timedelta) -> SignIn:
    """Record a new sign-in of ``person`` until ``now + lasts``; old ended or expired sign-ins are cleared."""
    session.execute(delete(SignIn).where(col(SignIn.expires_at) < now - KEEP_ENDED))
    session.execute(delete(SignIn).where(col(SignIn.ended_at) < now - KEEP_ENDED))
    sign_in = SignIn(token_sha256=token_sha256, person_id=person.id, created_at=now, last_seen_at=now,
                     expires_at=now + lasts)
    session.add(sign_in)
    session.flush()
    return sign_in


def find(session: Session, token_sha256: str, *, now: datetime) -> Found | None:
    """The sign-in with this token, if the record has it. It counts (``person`` set) while it is not ended, not
    expired and the person still has a password; then its ``last_seen_at`` moves on (at most once a minute)."""
    row = session.exec(select(SignIn, Person).join(Person, col(Person.id) == SignIn.person_id)
                       .where(SignIn.token_sha256 == token_sha256)).first()
    if row is None:
        return None
    sign_in, person = row
    if sign_in.ended_at is not None:
        return Found(sign_in, None, sign_in.ended_why)
    if _utc(sign_in.expires_at) <= now:
        return Found(sign_in, None)
    if not person.password_hash:               # the password was removed: no sign-in counts
        return Found(sign_in, None, SignInEnd.PASSWORD_CHANGED)
    if now - _utc(sign_in.last_seen_at) >= SEEN_EVERY:
        sign_in.last_seen_at = now
        session.add(sign_in)
    return Found(sign_in, person)


def end(session: Session, token_sha256: str, *, why: SignInEnd, now: datetime) -> bool:
    """End the sign-in with this token (if it is live). True if one was ended."""
    result = session.execute(update(SignIn).where(SignIn.token_sha256 == token_sha256, col(SignIn.ended_at).is_(None))
                          .values(ended_at=now, ended_why=why))
    return result.rowcount > 0


def end_all(session: Session, person_id: int, *, why: SignInEnd, now: datetime | None = None) -> int:
    """End every live sign-in of one person (their password changed). Returns how many."""
    result = session.execute(update(SignIn).where(SignIn.person_id == person_id, col(SignIn.ended_at).is_(None))
                          .values(ended_at=now or datetime.now(UTC), ended_why=why))
    return result.rowcount

