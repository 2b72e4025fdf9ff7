"""Sessions of the retoucher web page: a signed cookie, its expiry, and the CSRF token of its forms.

The cookie holds ``{"n": name or null, "c": csrf token, "e": expiry (unix seconds)}`` as URL-safe base64
JSON, then ``.``, then an HMAC-SHA256 of that text with the installation's secret. Nothing in it is secret
(the name and a random token); what matters is that nobody can make one without the secret. Every visitor
gets one (so the sign-in form has a CSRF token too); signing in issues a new one with a new token.

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

    def new(self, name: str | None = None) -> WebSession:
        return WebSession(name=name, csrf=secrets.token_urlsafe(24), expires=self.clock() + self.seconds)

    def dump(self, session: WebSession) -> str:
        body = _b64(json.dumps({"n": session.name, "c": session.csrf, "e": session.expires},
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
            session = WebSession(name=data["n"], csrf=str(data["c"]), expires=float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > self.clock() else None

    @staticmethod
    def csrf_ok(session: WebSession | None, token: object) -> bool:
        return session is not None and isinstance(token, str) and hmac.compare_digest(session.csrf, token)
