"""The installation's secret: the key that signs what postline hands out to browsers and clients, the web page's
session cookies (surfaces/web_session.py) and the client's links (record/links.py).

``POSTLINE_WEB_SECRET`` if set (at least 32 characters), else the file ``<POSTLINE_HOME>/web-secret`` (32 random
bytes, mode 0600), made the first time it is needed. Removing that file signs everybody out of the web page and
turns every link made with it into a refused one.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.errors import Permanent
from config.settings import SETTINGS_FILE

SECRET_FILE = "web-secret"


class SecretSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTLINE_WEB_", env_file=SETTINGS_FILE, extra="ignore",
                                      env_ignore_empty=True)

    secret: str | None = Field(None, min_length=32, description=(
        "Key that signs session cookies and client links; default: 32 random bytes kept in "
        "<POSTLINE_HOME>/web-secret (0600)."))


class BadSecret(Permanent):
    """The secret file is there but cannot be a key."""


def load_secret(setting: str | None, home: Path) -> bytes:
    """The signing key: ``setting`` (POSTLINE_WEB_SECRET), else the home's secret file (created 0600 on first use)."""
    if setting:
        return setting.encode()
    path = home / SECRET_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 32:
            raise BadSecret(f"{path} holds {len(key)} bytes, fewer than 32: delete it (everybody is signed out and "
                            "every client link made so far is refused) and start postline again to make a new "
                            "one") from None
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)
        return key
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def installation_secret() -> bytes:
    """The key of this installation, from the current settings (POSTLINE_WEB_SECRET, POSTLINE_HOME)."""
    from config.settings import get_settings

    return load_secret(SecretSettings().secret, get_settings().home)
