"""Sessions of the retoucher web page: a signed cookie, its expiry, and the CSRF token of its forms.

The cookie holds ``{"n": name or null, "c": csrf token, "e": expiry (unix seconds), "k": password key}`` as
URL-safe base64 JSON, then ``.``, then an HMAC-SHA256 of that text with the installation's secret. Nothing in
it is secret (the name, a random token, and 16 hex digits of an HMAC of the person's password hash, never the
hash itself); what matters is that nobody can make one without the secret. Every visitor gets one (so the
sign-in form has a CSRF token too); signing in issues a new one with a new token. A session counts only while
its password key matches the person's current password hash (:meth:`Sessions.current`): changing or removing
a password signs that person out everywhere.

:class:`SignInLimiter` slows password guessing: too many wrong passwords for one name, or from one client
address, within a window pause sign-in for that name (or address) until the window has passed.

The secret: ``POSTLINE_WEB_SECRET`` if set, else the file ``<POSTLINE_HOME>/web-secret`` (32 random bytes,
mode 0600), made on first start. Removing that file signs everybody out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

COOKIE = "postline_session"
SECRET_FILE = "web-secret"


class WebSettings(BaseSettings):
    """Settings of `postline web`, read from ``POSTLINE_WEB_*``."""
    model_config = SettingsConfigDict(env_prefix="POSTLINE_WEB_", extra="ignore")

    secret: str | None = Field(None, min_length=32, description=(
        "Key that signs session cookies; default: 32 random bytes kept in <POSTLINE_HOME>/web-secret (0600)."))
    session_hours: float = Field(8.0, gt=0, le=24 * 14, description="A sign-in lasts this long, then signs out.")
    max_upload_mb: int = Field(400, ge=1, le=4096, description="Largest result file a retoucher may upload.")
    secure_cookie: bool = Field(False, description="Mark the cookie Secure: set this when served over HTTPS.")
    signin_failures: int = Field(5, ge=1, le=1000, description=(
        "Wrong passwords for one name within the sign-in window after which that name cannot sign in "
        "until the window has passed."))
    signin_failures_per_address: int = Field(20, ge=1, le=100_000, description=(
        "Wrong passwords from one client address within the sign-in window after which that address cannot "
        "sign in until the window has passed (behind a reverse proxy every client shares its address)."))
    signin_window_minutes: float = Field(15.0, gt=0, le=24 * 60, description=(
        "The sign-in window: failures older than this are forgotten."))


def load_secret(settings: WebSettings, home: Path) -> bytes:
    """The signing key: the setting, else the home's secret file (created 0600 on first use)."""
    if settings.secret:
        return settings.secret.encode()
    path = home / SECRET_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 32:
            raise RuntimeError(f"{path} holds {len(key)} bytes, fewer than 32: delete it (everybody is signed "
                               "out) and start `postline web` again to make a new one") from None
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)
        return key
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
    return path.read_bytes()


@dataclass(frozen=True)
class WebSession:
    name: str | None      # the signed-in person, or None for a visitor who has not signed in
    csrf: str
    expires: float        # unix seconds
    key: str | None = None  # the password key of the person's password when they signed in


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Issues and reads session cookies with ``key``; ``clock`` gives unix seconds (tests pass their own)."""

    def __init__(self, key: bytes, *, hours: float, clock: Callable[[], float]):
        self._key, self.seconds, self.clock = key, hours * 3600, clock

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def password_key(self, password_hash: str | None) -> str | None:
        """16 hex digits of an HMAC of ``password_hash`` (None without a password): changes with the password,
        tells nothing about it."""
        if not password_hash:
            return None
        return hmac.new(self._key, b"password:" + password_hash.encode(), hashlib.sha256).hexdigest()[:16]

    def new(self, name: str | None = None, *, password_hash: str | None = None) -> WebSession:
        """A visitor's session, or (with ``name``) a signed-in one tied to the person's ``password_hash``."""
        key = self.password_key(password_hash) if name is not None else None
        return WebSession(name=name, csrf=secrets.token_urlsafe(24), expires=self.clock() + self.seconds, key=key)

    def current(self, session: WebSession, password_hash: str | None) -> bool:
        """Whether ``session`` was made with the password the person has now (never, once it is removed)."""
        key = self.password_key(password_hash)
        return key is not None and session.key is not None and hmac.compare_digest(session.key, key)

    def dump(self, session: WebSession) -> str:
        body = _b64(json.dumps({"n": session.name, "c": session.csrf, "e": session.expires, "k": session.key},
                               separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def load(self, cookie: str | None) -> WebSession | None:
        """The session in ``cookie``; None if absent, forged, malformed or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = json.loads(_unb64(body))
            key = data.get("k")
            session = WebSession(name=data["n"], csrf=str(data["c"]), expires=float(data["e"]),
                                 key=key if isinstance(key, str) else None)
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > self.clock() else None

    @staticmethod
    def csrf_ok(session: WebSession | None, token: object) -> bool:
        return session is not None and isinstance(token, str) and hmac.compare_digest(session.csrf, token)


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
