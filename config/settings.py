"""Settings of one postline installation, read from the environment (``POSTLINE_*``)
and an optional ``postline.env`` file in the working folder.

Nothing is read at import time: call :func:`get_settings`. Tests point
``POSTLINE_HOME`` somewhere else and call ``get_settings.cache_clear()``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


SETTINGS_FILE = "postline.env"    # in the working folder; the environment wins over it


class PostlineSettings(BaseSettings):
    model_config = SettingsConfigDict(     # a setting left empty (POSTLINE_HOME=) is its default, not '.'
        env_prefix="POSTLINE_", env_file=SETTINGS_FILE, extra="ignore", env_ignore_empty=True
    )

    home: Path = Field(
        default=Path.home() / "postline",
        description="Folder holding the production record (SQLite), archives, work files and deliveries.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the production record; default: SQLite file <home>/postline.db.",
    )
    batch_size: int = Field(
        default=24, ge=1, le=500,
        description="Photos per task run: image work is batched so a flow run holds tens, not thousands, of task runs.",
    )
    max_batches: int = Field(
        default=32, ge=1, le=1000,
        description="Most task runs one stage of one order is split into: past POSTLINE_BATCH_SIZE x this many photos, "
                    "batches grow instead, so a 2,500-photo order shows tens of task runs per stage, not a hundred. "
                    "At least a few per worker (POSTLINE_WORKERS, or the Dask cluster's) keeps them all busy.",
    )
    workers: int = Field(
        default=2, ge=1, le=64,
        description="Photo batches processed at once on this machine (the thread pool used without dask_address).",
    )
    dask_address: str | None = Field(
        default=None,
        description="Address of a Dask scheduler (tcp://HOST:8786, as `dask scheduler` prints it) whose workers do "
                    "the orders' photo work (ingest, stage and QC batches) through prefect-dask. Its workers must "
                    "run this code version and see the same POSTLINE_HOME and POSTLINE_DATABASE_URL; a run checks "
                    "them before its first batch. None: a thread pool of `workers` threads in the run's process.",
    )
    web_long_edge: int = Field(
        default=1600, ge=256, le=8192, description="Long edge in pixels of the proof JPEGs made at grading "
                                                   "(delivered sizes are the delivery recipe's).",
    )
    album_proofs: bool = Field(
        default=False,
        description="Also deliver the album spreads (album.pdf), laid out from templates (tasks/pixels/layout.py), "
                    "whatever the line says (a line's stage with `album = true` turns them on for that line).",
    )

    # The studio, written into every delivered file (EXIF, IPTC and XMP) and onto the contact sheet.
    studio_name: str = Field(
        default="Photo Studio", min_length=1, max_length=120,
        description="The studio's name: EXIF Artist (unless studio_artist), IPTC Credit, XMP photoshop:Credit, "
                    "the contact sheet's heading and the watermark's {studio}; the watermark on the client's "
                    "gallery proofs, the gallery's heading and the e-mails to clients.",
    )
    studio_artist: str | None = Field(
        default=None, max_length=120,
        description="Who made the photos (EXIF Artist, IPTC By-line, XMP dc:creator); default: the studio's name.",
    )
    studio_copyright: str = Field(
        default="© {year} {studio}. All rights reserved.", min_length=1, max_length=200,
        description="Copyright line (EXIF Copyright, IPTC CopyrightNotice, XMP dc:rights); {year} is the year the "
                    "photo was taken, {studio} the studio's name.",
    )
    studio_email: str = Field(default="", max_length=120, description="The studio's e-mail, in every delivered file.")
    studio_phone: str = Field(default="", max_length=60, description="The studio's telephone, in every delivered file.")
    studio_website: str = Field(default="", max_length=200, description="The studio's web site, in every delivered file.")

    recipes_dir: Path | None = Field(
        default=None,
        description="Folder of delivery recipes (<shoot>.toml, or any name given with `postline deliver --recipe`); "
                    "default: config/recipes in the code.",
    )
    retention_years: int = Field(
        default=7, ge=1, le=100,
        description="Years an order's originals and deliveries are kept in the archive after its last delivery; "
                    "`postline archive expire` removes what is older.",
    )
    claims_at_once: int = Field(
        default=6, ge=1, le=64,
        description="PostgreSQL: how many queue claims one postline process (the web page, a worker) sends to the "
                    "database at once; more claimers wait their turn, first come first served. About three per "
                    "core of the database server; a higher number lets the claimers contend for the same rows.",
    )
    max_rework_rounds: int = Field(
        default=1, ge=0, le=5,
        description="How many times an automatic QC rejection sends a photo back to its stage before it is held.",
    )

    revision_window_days: int = Field(
        default=30, ge=0, le=3650,
        description="Days after an order's delivery its working files (people's work, previews, proofs, the graded "
                    "references) are kept for client revisions; then housekeeping removes them. Originals "
                    "and delivery packages are kept. A revision asked for after that re-runs the photo from its "
                    "original through the whole line.",
    )
    keep_remakeable_files: bool = Field(
        default=False,
        description="Also keep, for the revision window, the finished 16-bit files of the photos no person worked on "
                    "(each about twice its original's size, or more). Off: they are removed once the order's delivery package is "
                    "written and verified, and made again from the originals, bit for bit, if a later delivery "
                    "needs them (a changed recipe); a delivery that changes nothing takes the files from the last "
                    "package.",
    )

    max_result_pixels: int = Field(
        default=200_000_000, ge=1_000_000, le=2_000_000_000,
        description="Largest image (width x height, in pixels) a retoucher may hand back (web page or `postline queue "
                    "submit`), read from the file's header before any pixel is decoded; bigger files are refused "
                    "unread. 200 million is above the largest camera frames (100-150 MP medium format, ~200 MP "
                    "pixel-shift composites); checking a 200 MP 16-bit RGB result takes ~1.2 GB of memory while it "
                    "is decoded.",
    )

    chart_search: int = Field(
        default=8, ge=0, le=1000,
        description="How many of each camera body's first RAW frames to search for a colour chart (0: no session "
                    "calibration).",
    )
    human_wait_seconds: int = Field(
        default=14 * 24 * 3600, ge=60, le=366 * 24 * 3600,
        description="How long an order's flow run waits for retoucher or QC lead before it gives up (fails); at "
                    "most a year.",
    )
    pause_poll_seconds: int = Field(
        default=5, ge=1, le=300, description="How often a paused run asks the Prefect server whether it was resumed.",
    )

    run_lease_seconds: int = Field(
        default=60, ge=2, le=3600,
        description="An order's run holds the order for this long after its last heartbeat: a run whose process "
                    "died is taken over by the next `postline order run` this long after it stopped.",
    )
    run_heartbeat_seconds: float = Field(
        default=10, gt=0, le=600,
        description="How often a live order run renews its hold on the order (and how often `order run --wait` "
                    "looks whether the order is free); well below run_lease_seconds.",
    )

    promise_working_days: int = Field(
        default=25, ge=1, le=365,
        description="The studio's delivery promise, in working days from the day an order comes in (the report "
                    "names the orders delivered later).",
    )
    revision_rounds_target: float = Field(
        default=1.5, ge=0, le=20, description="The most client revision rounds per order, on average, the studio aims for.",
    )
    holidays_file: Path | None = Field(
        default=None,
        description="Text file of the studio's holidays, one YYYY-MM-DD a line (# comments): with Saturdays and "
                    "Sundays, they are not working days in turnaround, output per working day and forecasts.",
    )

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> "PostlineSettings":
        if self.run_heartbeat_seconds * 2 > self.run_lease_seconds:
            raise ValueError(f"POSTLINE_RUN_HEARTBEAT_SECONDS ({self.run_heartbeat_seconds}) must be at most half of "
                             f"POSTLINE_RUN_LEASE_SECONDS ({self.run_lease_seconds}), or a live run loses its order "
                             "between two heartbeats")
        return self

    @field_validator("dask_address")
    @classmethod
    def _dask_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not re.fullmatch(r"(tcp|tls|ucx|ws|wss)://[^\s/]+:\d+", value):
            raise ValueError(f"POSTLINE_DASK_ADDRESS '{value}' is not a Dask scheduler address: give it as "
                             "tcp://HOST:PORT (what `dask scheduler` prints, e.g. tcp://10.0.0.5:8786), or leave it "
                             "unset to work photos in the run's own process")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        """SQLite or PostgreSQL through psycopg (3); a plain postgresql:// or postgres:// URL, as PostgreSQL's own
        tools and hosts give it, is taken as psycopg's."""
        if value is None or not value.strip():
            return None
        value = value.strip()
        scheme, found, rest = value.partition("://")
        if found and scheme in ("postgresql", "postgres"):
            return f"postgresql+psycopg://{rest}"
        if not found or scheme not in ("sqlite", "postgresql+psycopg"):
            raise ValueError("the production record is SQLite (sqlite:////path/to/postline.db) or PostgreSQL "
                             "(postgresql://USER:PASSWORD@HOST/DATABASE); leave it unset for SQLite in POSTLINE_HOME")
        return value

    @field_validator("home")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("studio_name", "studio_artist", "studio_copyright", "studio_email", "studio_phone",
                     "studio_website")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("one line of text, without control characters (newline, tab, escape)")
        return value

    @field_validator("studio_copyright")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        """Only {year} and {studio}: a misspelt one ({yaer}) was written as it is into every delivered file."""
        if unknown := sorted(set(re.findall(r"\{([^{}]*)\}", value)) - {"year", "studio"}):
            raise ValueError(f"unknown placeholder {', '.join('{' + u + '}' for u in unknown)}: the copyright line "
                             "takes {year} (the year the photo was taken) and {studio} (POSTLINE_STUDIO_NAME)")
        return value

    @property
    def artist(self) -> str:
        return self.studio_artist or self.studio_name

    def copyright_for(self, year: int) -> str:
        return self.studio_copyright.replace("{year}", str(year)).replace("{studio}", self.studio_name)

    @property
    def studio_contact(self) -> str:
        """The studio's contact on one line: e-mail, telephone, web site (those set)."""
        return " · ".join(part for part in (self.studio_email, self.studio_phone, self.studio_website) if part)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'postline.db'}"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def delivery_dir(self) -> Path:
        return self.home / "delivery"


@lru_cache(maxsize=1)
def get_settings() -> PostlineSettings:
    return PostlineSettings()


def url_without_password(url: str) -> str:
    """``url`` (a database URL) with its password as ***: everything between '://' and its last '@' but the user
    before the first ':'. Not a URL parser's reading: a password may hold '@', '/' or ':', which one takes for the
    host's, and would show."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def without_password(text: str, url: str) -> str:
    """``text`` (a driver's message about ``url``) with ``url``'s password, and each piece of it a parser may have
    split off ('s3@cr3t' read as password 's3', host 'cr3t@db'), as ***."""
    credentials = url.partition("://")[2].rpartition("@")[0]
    password = credentials.split(":", 1)[1] if ":" in credentials else ""
    for piece in sorted({password, *re.split(r"[@:/]", password)}, key=len, reverse=True):
        if len(piece) >= 3:
            text = text.replace(piece, "***")
    return text
