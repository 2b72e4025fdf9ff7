"""Links handed to people outside the studio: the client's gallery, a delivery's download, a photo's preview. The
one module every such link goes through, whatever it opens: made, read back, PIN-checked and revoked here.

A link's address is ``<public URL>/<g|d|p>/<token>``. The token is itsdangerous' URL-safe signed serialisation,
with the installation's secret (config/secret.py, the key of the web page's session cookies too), of the link's
row id, a random nonce and its expiry; it is salted with the link's purpose, so a gallery link never opens a
download. The row (:class:`record.models.ClientLink`) is the link's truth: a token is accepted only when its
signature is right, its row is there with the same nonce and purpose, neither the signed expiry nor the row's
has passed, and the row was not revoked. A link may have a PIN, kept as a salted scrypt hash; wrong PINs are
counted in the row (so every process sees them): after ``pin_attempts`` in a row, the link refuses PINs until
``pin_lock_minutes`` have passed. A right PIN is remembered by the browser as a signed proof (a cookie) naming
the link and its PIN's hash: it stands in for the PIN of that link only, while the link opens and its PIN is
unchanged.

The refusals are errors of config/errors.py's tree (their HTTP statuses: surfaces/web_errors.py's table). Data
functions take ``session`` and do not commit; the signing ones take the key.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from config.errors import Forbidden, Invalid, NotFound, Refused
from record.models import ClientLink, LinkPurpose, utcnow
from record.people import hash_secret, verify_password

PREFIX: dict[LinkPurpose, str] = {LinkPurpose.GALLERY: "g", LinkPurpose.DOWNLOAD: "d", LinkPurpose.PREVIEW: "p"}
MAX_TOKEN = 400
PIN_PATTERN = re.compile(r"^[0-9A-Za-z]{4,32}$")


# --- refusals ----------------------------------------------------------------------------------------------------

class LinkRefused(Refused):
    """A link that does not open; the message says why, for the client."""


class UnknownLink(LinkRefused, NotFound):
    """Not a link postline made: damaged, changed, made with another secret, or its row is gone."""


class LinkExpired(LinkRefused):
    """Its time is up."""


class LinkRevoked(LinkRefused):
    """The studio withdrew it."""


class PinNeeded(LinkRefused, Forbidden):
    """The link has a PIN and the browser has not given it yet."""


class WrongPin(LinkRefused, Forbidden):
    """Not its PIN."""


class PinLocked(LinkRefused):
    """Too many wrong PINs in a row: the link refuses PINs until ``until``."""

    def __init__(self, message: str, until: datetime):
        super().__init__(message)
        self.until = until


class BadPin(Invalid):
    """A PIN given when making a link that cannot be one."""


UNKNOWN = ("This link does not work: it is incomplete or was changed. Copy the whole link from the studio's "
           "message again, or ask the studio for a new one.")


def utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; every time in the record is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


# --- signing -----------------------------------------------------------------------------------------------------

def _serializer(key: bytes, purpose: LinkPurpose) -> URLSafeSerializer:
    return URLSafeSerializer(key, salt=f"postline-link-{purpose.value}")


def token(key: bytes, link: ClientLink) -> str:
    """The link's token (the same every time: a reminder e-mails the very link the client was given)."""
    expires = int(utc(link.expires_at).timestamp())
    return _serializer(key, link.purpose).dumps({"i": link.id, "n": link.nonce, "e": expires})


def url(key: bytes, link: ClientLink, base: str) -> str:
    """The link's address under ``base`` (the public URL of `postline web`)."""
    return f"{base.rstrip('/')}/{PREFIX[link.purpose]}/{token(key, link)}"


def _read(key: bytes, text: str, purpose: LinkPurpose) -> tuple[int, str, int]:
    """(id, nonce, expiry) of a token signed for ``purpose``; :class:`UnknownLink` for anything else."""
    if not text or len(text) > MAX_TOKEN or not text.isascii():
        raise UnknownLink(UNKNOWN)
    try:
        data = _serializer(key, purpose).loads(text)
        found = int(data["i"]), str(data["n"]), int(data["e"])
    except (BadData, KeyError, TypeError, ValueError, UnicodeError, OverflowError):
        raise UnknownLink(UNKNOWN) from None
    return found


def pin_proof(key: bytes, link: ClientLink) -> str:
    """What a browser keeps once it gave the link's right PIN (a cookie's value)."""
    return URLSafeSerializer(key, salt="postline-link-pin").dumps({"i": link.id, "h": (link.pin_hash or "")[-16:]})


def proves_pin(key: bytes, link: ClientLink, proof: str | None) -> bool:
    """Whether ``proof`` is this link's, for its PIN as it is now."""
    if not proof or len(proof) > MAX_TOKEN:
        return False
    try:
        data = URLSafeSerializer(key, salt="postline-link-pin").loads(proof)
        return data["i"] == link.id and data["h"] == (link.pin_hash or "")[-16:]
    except (BadData, KeyError, TypeError, ValueError, UnicodeError):
        return False


# --- the record --------------------------------------------------------------------------------------------------

def check_pin_text(pin: str) -> str:
    if not PIN_PATTERN.match(pin):
        raise BadPin("a PIN is 4 to 32 letters or digits (no spaces), e.g. 4821")
    return pin


def create(session: Session, *, order_id: int, purpose: LinkPurpose, expires_at: datetime, actor: str,
           pin: str | None = None, email: str | None = None, target: str | None = None) -> ClientLink:
    """Record a new link (its PIN hashed). Its address is :func:`url`."""
    link = ClientLink(order_id=order_id, purpose=purpose, target=target, nonce=secrets.token_urlsafe(12),
                      expires_at=expires_at, pin_hash=hash_secret(check_pin_text(pin)) if pin else None,
                      email=email, created_by=actor[:80])
    session.add(link)
    session.flush()
    return link


def get(session: Session, link_id: int) -> ClientLink:
    link = session.get(ClientLink, link_id, populate_existing=True)
    if link is None:
        raise NotFound(f"no client link {link_id}; `postline links list ORDER` lists an order's links")
    return link


def opened(session: Session, key: bytes, text: str, purpose: LinkPurpose, *, now: datetime) -> ClientLink:
    """The link ``text`` (a token) opens, if it opens: :class:`UnknownLink`, :class:`LinkExpired` or
    :class:`LinkRevoked` otherwise. The PIN is the caller's (:func:`needs_pin`)."""
    link_id, nonce, expires = _read(key, text, purpose)
    link = session.get(ClientLink, link_id, populate_existing=True)
    if link is None or link.purpose is not purpose or not secrets.compare_digest(link.nonce, nonce):
        raise UnknownLink(UNKNOWN)
    if link.revoked_at is not None:
        raise LinkRevoked("The studio has withdrawn this link. Ask them for a new one if you still need it.")
    if now.timestamp() >= min(expires, utc(link.expires_at).timestamp()):
        raise LinkExpired(f"This link expired on {utc(link.expires_at):%d %B %Y at %H:%M} UTC. Ask the studio "
                          "for a new one.")
    return link


def count_pin_attempt(session: Session, link: ClientLink, *, now: datetime, limit: int,
                      lock: timedelta) -> None:
    """Count one PIN attempt as wrong before it is checked (so parallel guesses cannot slip past the limit;
    :func:`pin_accepted` takes it back). :class:`PinLocked` if the link refuses PINs now; the attempt that
    reaches the limit locks it for ``lock`` (it is still checked)."""
    counted = session.execute(
        update(ClientLink).where(ClientLink.id == link.id, or_(col(ClientLink.pin_locked_until).is_(None),
                                                               col(ClientLink.pin_locked_until) <= now))
        .values(pin_failures=ClientLink.pin_failures + 1)
    ).rowcount
    session.refresh(link)
    if not counted:
        raise PinLocked(_locked(link, now), utc(link.pin_locked_until))
    if link.pin_failures >= limit:
        link.pin_locked_until, link.pin_failures = now + lock, 0
        session.add(link)
        session.flush()


def _locked(link: ClientLink, now: datetime) -> str:
    return (f"Too many wrong PINs: this link takes no PIN for {locked_for(link, now)}. Check the PIN the studio "
            "gave you, then try again.")


def locked_for(link: ClientLink, now: datetime) -> str:
    """How long a link refuses PINs, as a client reads it wherever they are: "14 minutes (until 11:32 UTC)"."""
    until = utc(link.pin_locked_until)
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''} (until {until:%H:%M} UTC)"


def pin_matches(link: ClientLink, pin: str) -> bool:
    """Whether ``pin`` is the link's PIN (constant time; slow on purpose, so run it outside a transaction)."""
    return verify_password(link.pin_hash, pin[:64])


def pin_accepted(session: Session, link: ClientLink) -> None:
    """The PIN was right: its attempt was not a failure, nor the ones before it; a lock it reached is lifted."""
    link.pin_failures, link.pin_locked_until = 0, None
    session.add(link)
    session.flush()


def revoke(session: Session, link_id: int, *, actor: str, now: datetime | None = None) -> ClientLink:
    link = get(session, link_id)
    if link.revoked_at is None:
        link.revoked_at, link.revoked_by = now or utcnow(), actor[:80]
        session.add(link)
        session.flush()
    return link


def of_order(session: Session, order_id: int, purpose: LinkPurpose | None = None) -> list[ClientLink]:
    """The order's links, newest first."""
    query = select(ClientLink).where(ClientLink.order_id == order_id)
    if purpose is not None:
        query = query.where(ClientLink.purpose == purpose)
    return list(session.exec(query.order_by(col(ClientLink.id).desc())).all())


def live(link: ClientLink, now: datetime) -> bool:
    return link.revoked_at is None and utc(link.expires_at) > now


def expiry(link: ClientLink) -> datetime:
    return utc(link.expires_at)


def created(link: ClientLink) -> datetime:
    return utc(link.created_at)
