"""Settings of the links postline hands to clients (record/links.py): the gallery where a client picks their
favourites, the download of a delivery, a photo's preview. Read from ``POSTLINE_*`` and ``postline.env``."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.settings import SETTINGS_FILE


class LinkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTLINE_", env_file=SETTINGS_FILE, extra="ignore",
                                      env_ignore_empty=True)

    public_url: str = Field("http://127.0.0.1:8765", max_length=300, description=(
        "Where clients reach `postline web` (scheme, host, port, any path prefix), as printed and e-mailed links "
        "begin: e.g. https://proofs.example-studio.com behind the studio's TLS proxy."))
    gallery_days: int = Field(30, ge=1, le=365, description="How long a gallery link works unless --days says.")
    download_days: int = Field(14, ge=1, le=365, description="How long a download link works unless --days says.")
    preview_minutes: int = Field(60 * 24, ge=1, le=60 * 24 * 30, description="How long a preview link works.")
    selection_days: int = Field(7, ge=1, le=365, description=(
        "Days the client has to send their selection once the gallery link is made: after that the selection is "
        "overdue (`postline status`) and reminders go out."))
    remind_every_days: int = Field(3, ge=1, le=365, description=(
        "Days between two reminders of one overdue selection (the `client-reminders` deployment e-mails them)."))
    pin_attempts: int = Field(5, ge=1, le=100, description=(
        "Wrong PINs in a row after which a link refuses PINs for pin_lock_minutes."))
    pin_lock_minutes: float = Field(15.0, gt=0, le=24 * 60, description="How long a link refuses PINs after that.")
    gallery_picks: bool = Field(True, description=(
        "Mark the photographer's picks (their own ratings, read from the card: `postline order ratings`) in the "
        "client's gallery, with a switch to show only those. false: the gallery shows no rating."))

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
            raise ValueError("POSTLINE_PUBLIC_URL must be an http:// or https:// address without spaces, e.g. "
                             "https://proofs.example-studio.com")
        return value


def get_link_settings() -> LinkSettings:
    return LinkSettings()
