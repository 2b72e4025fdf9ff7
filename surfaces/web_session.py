"""Sessions of the retoucher web page: who a request is, the cookie that says so, and its forms' CSRF token.

The cookie carries a random token and its expiry, signed with the installation's secret (itsdangerous), so a
made-up or damaged cookie is told apart without asking the record. A signed-in person's token is in the
record (:mod:`record.signins`, as its SHA-256), checked on every request: signing out ends that sign-in and a
password change ends all of the person's, at once, so a copied cookie stops working. Every visitor gets a
cookie too (so the sign-in form has a CSRF token); signing in issues a new token. The CSRF token of a
session's forms is an HMAC of its token: nothing to store, and it cannot be made without the secret.

:class:`SignInLimiter` slows password guessing: too many wrong passwords for one name, or from one client
address, within a window pause sign-in for that name (or address) until the window has passed.

The secret: ``POSTLINE_WEB_SECRET`` if set, else the file ``<POSTLINE_HOME>/web-secret`` (32 random bytes,
mode 0600), made on first start (config/secret.py; the client's links are signed with it too). Removing that
file signs everybody out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from itsdangerous import BadData, URLSafeSerializer

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from config import secret
from config.settings import SETTINGS_FILE
from record import signins
from record.db import transaction
from record.models import Person, SignInEnd

COOKIE = "postline_session"
SECRET_FILE = secret.SECRET_FILE


class WebSettings(BaseSettings):
    """Settings of `postline web`, read from ``POSTLINE_WEB_*`` and ``postline.env``."""
    model_config = SettingsConfigDict(env_prefix="POSTLINE_WEB_", env_file=SETTINGS_FILE, extra="ignore",
                                      env_ignore_empty=True)

    secret: str | None = Field(None, min_length=32, description=(
        "Key that signs session cookies; default: 32 random bytes kept in <POSTLINE_HOME>/web-secret (0600)."))
    session_hours: float = Field(8.0, gt=0, le=24 * 14, description="A sign-in lasts this long, then signs out.")
    max_upload_mb: int = Field(400, ge=1, le=4096, description="Largest result file a retoucher may upload.")
    secure_cookie: bool = Field(False, description=(
        "Mark the session cookie Secure although requests arrive over plain HTTP: set this behind a TLS proxy. "
        "A page served over HTTPS by uvicorn itself always marks it Secure."))
    signin_failures: int = Field(5, ge=1, le=1000, description=(
        "Wrong passwords for one name within the sign-in window after which that name cannot sign in "
        "until the window has passed."))
    signin_failures_per_address: int = Field(20, ge=1, le=100_000, description=(
        "Wrong passwords from one client address within the sign-in window after which that address cannot "
        "sign in until the window has passed (behind a reverse proxy every client shares its address)."))
    signin_window_minutes: float = Field(15.0, gt=0, le=24 * 60, description=(
        "The sign-in window: failures older than this are forgotten."))


def load_secret(settings: WebSettings, home: Path) -> bytes:
    """The signing key: the setting, else the home's secret file (created 0600 on first use): config/secret.py,
    the one key of the installation, which signs the client's links too."""
    return secret.load_secret(settings.secret, home)


@dataclass(frozen=True)
class WebSession:
    """Who one request is: a visitor (``person`` None) or a signed-in person, and the session's cookie."""
    token: str
    csrf: str
    expires: float                      # unix seconds
    person: Person | None = None
    ended: SignInEnd | None = None      # the cookie was a sign-in that has been ended (said once, then forgotten)
    new: bool = False                   # a new session: its cookie must be sent


class Sessions:
    """Reads and issues session cookies signed with ``key``; ``clock`` gives unix seconds (tests pass their own)."""

    def __init__(self, key: bytes, *, hours: float, clock: Callable[[], float]):
        self._key, self.seconds, self.clock = key, hours * 3600, clock
        self._cookies = URLSafeSerializer(key, salt="postline-web-session")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _csrf(self, token: str) -> str:
        return hmac.new(self._key, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def _sha256(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def visitor(self, ended: SignInEnd | None = None) -> WebSession:
        """A new visitor's session (not signed in), with a new token."""
        token = secrets.token_urlsafe(32)
        return WebSession(token=token, csrf=self._csrf(token), expires=self.clock() + self.seconds, ended=ended,
                          new=True)

    def cookie(self, session: WebSession) -> str:
        return self._cookies.dumps({"t": session.token, "e": session.expires})

    def _token(self, cookie: str | None) -> tuple[str, float] | None:
        """The token and expiry in ``cookie``; None if absent, forged, damaged (any bytes at all) or expired."""
        if not cookie or len(cookie) > 512:
            return None
        try:
            data = self._cookies.loads(cookie)
            token, expires = data["t"], float(data["e"])
        except (BadData, ValueError, TypeError, KeyError, UnicodeError, OverflowError):
            return None
        if not isinstance(token, str) or not token.isascii() or expires <= self.clock():
            return None
        return token, expires

    def of(self, cookie: str | None) -> WebSession:
        """The session of a request with this cookie: signed in if its token is a sign-in that counts now,
        else a visitor's (the same one for a visitor's cookie, a new one for anything else). Never raises for a
        bad cookie: a bad cookie is a visitor."""
        found = self._token(cookie)
        if found is None:
            return self.visitor()
        token, expires = found
        with transaction() as db:
            known = signins.find(db, self._sha256(token), now=self._now())
        if known is None:
            return WebSession(token=token, csrf=self._csrf(token), expires=expires)
        if known.person is None:        # ended or expired: that token is done with, whoever holds it
            return self.visitor(ended=known.ended)
        return WebSession(token=token, csrf=self._csrf(token), expires=expires, person=known.person)

    def sign_in(self, person: Person) -> WebSession:
        """A new sign-in of ``person``, recorded; its token is new (never the visitor's)."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        with transaction() as db:
            signins.start(db, person=person, token_sha256=self._sha256(token), now=now,
                          lasts=timedelta(seconds=self.seconds))
        return WebSession(token=token, csrf=self._csrf(token), expires=self.clock() + self.seconds, person=person,
                          new=True)

    def sign_out(self, session: WebSession) -> WebSession:
        """End ``session``'s sign-in in the record; returns a new visitor's session."""
        with transaction() as db:
            signins.end(db, self._sha256(session.token), why=SignInEnd.SIGNED_OUT, now=self._now())
        return self.visitor()

    @staticmethod
    def csrf_ok(session: WebSession | None, token: object) -> bool:
        return (session is not None and isinstance(token, str)
                and hmac.compare_digest(session.csrf.encode(), token.encode("utf-8", "replace")))


# --- the sign-in rate limit ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lockout:
    by: str          # "name" or "address": what was refused
    until: float     # unix seconds; sign-in may be tried again from then


class SignInLimiter:
    """Counts failed sign-ins per name and per client address over a sliding window, in this process's memory.

    :meth:`attempt` is asked before a password is checked: it refuses (a :class:`Lockout`) when the name or the
    address already has its limit of failures in the window, else counts the attempt as a failure straight
    away, so concurrent guesses cannot slip past the limit. :meth:`succeeded` takes that back: it forgets the
    name's failures and the address's charge for this attempt (not the address's earlier failures, so one
    good account cannot reset a sweep over other names). Thread-safe; ``clock`` gives unix seconds.
    """

    _KEY_CHARS = 64  # names are at most 40 characters; longer keys are cut, not stored whole

    def __init__(self, *, per_name: int, per_address: int, window_seconds: float, clock: Callable[[], float]):
        self.per_name, self.per_address, self.window, self.clock = per_name, per_address, window_seconds, clock
        self._names: dict[str, deque[float]] = {}
        self._addresses: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._prune_above = 4096

    @classmethod
    def from_settings(cls, settings: WebSettings, clock: Callable[[], float]) -> SignInLimiter:
        return cls(per_name=settings.signin_failures, per_address=settings.signin_failures_per_address,
                   window_seconds=settings.signin_window_minutes * 60, clock=clock)

    def _recent(self, logs: dict[str, deque[float]], key: str, now: float) -> deque[float] | None:
        log = logs.get(key)
        while log and log[0] <= now - self.window:
            log.popleft()
        if log is not None and not log:
            del logs[key]
            return None
        return log

    def attempt(self, name: str, address: str) -> Lockout | None:
        """None (and the attempt counted as a failure until :meth:`succeeded`), or why and until when not."""
        name, address = name[:self._KEY_CHARS], address[:self._KEY_CHARS]
        with self._lock:
            now = self.clock()
            scopes = (("name", self._names, name, self.per_name),
                      ("address", self._addresses, address, self.per_address))
            for by, logs, key, limit in scopes:
                log = self._recent(logs, key, now)
                if log is not None and len(log) >= limit:
                    return Lockout(by=by, until=log[-limit] + self.window)
            for _, logs, key, limit in scopes:
                logs.setdefault(key, deque(maxlen=limit)).append(now)
            self._prune(now)
            return None

    def succeeded(self, name: str, address: str) -> None:
        """The attempt's password was right: forget the name's failures and this attempt's charge to the address."""
        name, address = name[:self._KEY_CHARS], address[:self._KEY_CHARS]
        with self._lock:
            self._names.pop(name, None)
            log = self._addresses.get(address)
            if log:
                log.pop()
                if not log:
                    del self._addresses[address]

    def _prune(self, now: float) -> None:
        """Drop the logs of keys with no failure left in the window, once there are many (names swept)."""
        if len(self._names) + len(self._addresses) <= self._prune_above:
            return
        for logs in (self._names, self._addresses):
            for key in [k for k, log in logs.items() if log[-1] <= now - self.window]:
                del logs[key]
        self._prune_above = max(4096, 2 * (len(self._names) + len(self._addresses)))
