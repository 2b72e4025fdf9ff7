"""Settings of the e-mail postline sends (a gallery link, a selection reminder), through the studio's SMTP server.
Read from ``POSTLINE_SMTP_*`` and ``postline.env``; with no host set, postline sends nothing and says so."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.settings import SETTINGS_FILE


class MailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTLINE_SMTP_", env_file=SETTINGS_FILE, extra="ignore",
                                      env_ignore_empty=True)

    host: str | None = Field(None, max_length=255, description="SMTP server; unset: no e-mail is sent.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587 submission with STARTTLS, 465 TLS, 25 plain).")
    security: str = Field("starttls", pattern="^(starttls|tls|none)$", description=(
        "starttls (upgrade the connection), tls (TLS from the start, port 465) or none (a local relay only)."))
    user: str | None = Field(None, max_length=255, description="Login, if the server asks for one.")
    password: str | None = Field(None, max_length=255, description="Its password (no default).")
    sender: str = Field("", max_length=255, description="From: address, e.g. 'Studio Lumen <hello@lumen.example>'.")
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds to wait for the server.")

    @model_validator(mode="after")
    def _complete(self) -> "MailSettings":
        if self.host and not self.sender:
            raise ValueError("POSTLINE_SMTP_SENDER is needed with POSTLINE_SMTP_HOST: the From: address of the "
                             "studio's e-mail")
        if self.user and not self.password:
            raise ValueError("POSTLINE_SMTP_USER is set without POSTLINE_SMTP_PASSWORD")
        return self
