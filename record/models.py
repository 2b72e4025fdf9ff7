"""The production record: orders, photos, work items and stage events.

Times are UTC. Statuses are enums; which status may follow which lives in
:mod:`record.moves`, the only module that changes them after creation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

from pydantic import NaiveDatetime
from sqlalchemy import Column, Index, UniqueConstraint, event, inspect, select, update
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(enum_cls: type[StrEnum]) -> Column:
    # Stored as the readable value ('queued'), checked by a native CHECK / ENUM.
    return Column(SAEnum(enum_cls, values_callable=lambda e: [m.value for m in e],
                         native_enum=False, length=20), nullable=False)


class ShootType(StrEnum):
    WEDDING = "wedding"
    PORTRAIT = "portrait"
    CHILDREN = "children"


class OrderStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    DELIVERED = "delivered"
    REVISION = "revision"     # the client asked for changes to delivered photos: run it again
    FAILED = "failed"


class PhotoStatus(StrEnum):
    INGESTED = "ingested"     # archived, checksummed, in the line
    REJECTED = "rejected"     # unreadable or not a photo: never entered the line
    DUPLICATE = "duplicate"   # same bytes as another photo of the order
    FAILED = "failed"         # a stage could not process it (reason says why)
    HELD = "held"             # QC kept rejecting it after the allowed rework: a person must look
    PASSED = "passed"         # passed the QC gate, ready to deliver
    DELIVERED = "delivered"
    CULLED = "culled"         # left out by the senior photographer's review of the originals
    CHART = "chart"           # set aside: the colour chart frame the session was calibrated on (see Order.deliver_chart)


# a photo of a delivered order in these was delivered before and its change not made: its package has it as it was
AS_BEFORE = (PhotoStatus.FAILED, PhotoStatus.HELD)


class WorkStatus(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    SUBMITTED = "submitted"   # stage work done; output recorded
    PASSED = "passed"         # gate items only
    REJECTED = "rejected"     # gate items only
    FAILED = "failed"
    CANCELLED = "cancelled"


class EventKind(StrEnum):
    INGESTED = "ingested"
    ENQUEUED = "enqueued"
    CLAIMED = "claimed"       # work started (by a person or the automatic worker)
    RELEASED = "released"     # claim given up or expired; the item is back in the queue
    SUBMITTED = "submitted"   # work finished
    PASSED = "passed"
    REJECTED = "rejected"     # with reason, and the stage blamed for a QC rejection
    FAILED = "failed"
    HELD = "held"
    DELIVERED = "delivered"
    REVISED = "revised"       # the client asked for changes to a delivered photo: it re-enters the line
    SET_ASIDE = "set_aside"   # taken out of the line by postline itself, not as a defect (the colour chart frame; a
    #                           duplicate at ingest: the same bytes, or the camera's JPEG of a RAW+JPEG shot)
    SELECTED = "selected"        # the client chose it in the gallery: it goes through the retouch stages
    GRADED_ONLY = "graded_only"  # the client did not choose it: delivered as graded (QC and delivery, no retouch)
    RETRIED = "retried"       # a lead put a failed photo back in the line, at the stage it failed in (its cause
    #                           fixed), or a photo QC held back at a stage for another round (`postline qc held`)
    # An order's own moves (record.moves.move_order; stage ORDER, no photo): kinds of their own, so that counting
    # photos' events (delivered, revised, failed) never counts an order's.
    ORDER_RUNNING = "order_running"      # a run started (or took over from one that died)
    ORDER_DELIVERED = "order_delivered"
    ORDER_FAILED = "order_failed"
    ORDER_REVISION = "order_revision"    # the client asked for changes: photos are back in the line


INGEST = "ingest"            # pseudo-stages used in events
QC_GATE = "qc_gate"
DELIVERY = "delivery"
ORIGINAL_REVIEW = "original_review"  # the senior photographer's review of the originals, after ingest
CLIENT_REVIEW = "client_review"      # the client's revision requests on a delivery
CLIENT_SELECTION = "client_selection"  # the client's selection in the gallery, after grading (record/selection.py)
CALIBRATION = "calibration"          # session calibration on the card's colour chart, before the first stage
ORDER = "order"                      # the order's own moves (record.moves.move_order): events with no photo


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    id: int | None = Field(default=None, primary_key=True)
    client: str = Field(max_length=120, index=True)
    shoot: ShootType = Field(sa_column=_enum(ShootType))
    preset: str = Field(max_length=80)
    preset_version: int | None = None
    preset_hash: str | None = Field(default=None, max_length=64)
    preset_json: str | None = Field(default=None, description="The resolved preset values, so a re-run grades exactly alike.")
    due: date | None = None
    rush: bool = Field(default=False, description="Rush orders go to the front of every stage queue.")
    card_folder: str = Field(max_length=1024)
    status: OrderStatus = Field(sa_column=_enum(OrderStatus))
    delivery_path: str | None = Field(default=None, max_length=1024)
    flow_run_id: str | None = Field(default=None, max_length=36, description="The Prefect flow run driving it.")
    revisions: int = Field(default=0, description="Client revision rounds asked for so far.")
    chart_photo: str | None = Field(default=None, max_length=1024, description="Card file holding the colour chart.")
    calibration_json: str | None = Field(default=None, description="The session calibration fitted on the chart.")
    calibration_note: str | None = Field(default=None, max_length=1000, description=(
        "Why the session has no calibration (no chart found, a chart-like pattern refused and why, switched off); "
        "None until the run has looked, or when it is calibrated."))
    deliver_chart: bool = Field(default=False, description=(
        "Keep the colour chart frame in the line and deliver it (by default it is set aside once used)."))
    waiting_on: str | None = Field(default=None, max_length=80, description="Stage or gate the run waits for.")
    client_selection: bool = Field(default=False, description=(
        "After grading, the run waits for the client's selection in the gallery (`postline gallery`): only their "
        "favourites are retouched, the rest delivered graded. `order create --no-selection` turns it off."))
    package_count: int | None = Field(default=None, ge=0, le=10_000, description=(
        "Photos the client's package puts in the album: the most album picks the gallery takes."))
    line_json: str | None = Field(default=None, description=(
        "The line this order runs with (config.line.Line as JSON), recorded when it first starts: editing the "
        "line file changes new orders only; `postline order use-line` moves an order explicitly."))
    work_removed_at: datetime | None = Field(default=None, description=(
        "When housekeeping removed the order's working files, the revision window after its delivery being over "
        "(tasks/retention.py); a revision asked for after that re-runs the photo from its original."))
    # The order's run lease (record/runs.py): at most one live run per order.
    run_flow_run_id: str | None = Field(default=None, max_length=36, description="The order flow run holding the order.")
    run_name: str | None = Field(default=None, max_length=200, description="Its name in the Prefect UI.")
    run_owner: str | None = Field(default=None, max_length=200, description="Where it runs: host and process id.")
    run_started_at: datetime | None = Field(default=None, description="When it took the order.")
    run_expires_at: datetime | None = Field(default=None, description=(
        "Its hold ends then unless its heartbeat renews it (a run whose process died stops renewing)."))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Photo(SQLModel, table=True):
    __tablename__ = "photos"
    __table_args__ = (UniqueConstraint("order_id", "source_name", name="uq_photo_source"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    source_name: str = Field(max_length=1024, description="Path relative to the card folder, as found.")
    original_path: str | None = Field(default=None, max_length=1024, description="Read-only archive copy.")
    sha256: str = Field(max_length=64, index=True)
    size_bytes: int
    kind: str | None = Field(default=None, max_length=8)
    status: PhotoStatus = Field(sa_column=_enum(PhotoStatus))
    reason: str | None = Field(default=None, max_length=1000)
    duplicate_of: int | None = Field(default=None, foreign_key="photos.id")
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    camera_make: str | None = Field(default=None, max_length=80)
    camera_model: str | None = Field(default=None, max_length=80)
    camera_serial: str | None = Field(default=None, max_length=40, description="The body's serial number, if the "
                                      "file declares one: tells two bodies of one model apart (record.clocks).")
    lens: str | None = Field(default=None, max_length=120)
    capture_time: NaiveDatetime | None = Field(default=None, description="Camera clock, as the camera wrote it.")
    iso: float | None = None
    exposure_time: float | None = None
    f_number: float | None = None
    focal_length: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


class WorkItem(SQLModel, table=True):
    """One photo at one stage (or gate) in one round. Round 1 is first pass; rework adds rounds."""
    __tablename__ = "work_items"
    __table_args__ = (
        UniqueConstraint("photo_id", "stage", "round", name="uq_item_photo_stage_round"),
        Index("ix_items_queue", "stage", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    photo_id: int = Field(foreign_key="photos.id", index=True)
    stage: str = Field(max_length=40)
    round: int = Field(default=1, ge=1)
    status: WorkStatus = Field(sa_column=_enum(WorkStatus))
    claimed_by: str | None = Field(default=None, max_length=80)
    lease_expires_at: datetime | None = None
    attempt: int = 0
    input_path: str | None = Field(default=None, max_length=1024)
    output_path: str | None = Field(default=None, max_length=1024)
    output_sha256: str | None = Field(default=None, max_length=64)
    queue_rank: str | None = Field(default=None, max_length=16, description=(
        "Place in the stage queues: the order's rush flag and due date (see queue_rank()); kept up to date "
        "when the order changes."))
    reason: str | None = Field(default=None, max_length=1000)
    exposure_ev: float | None = Field(default=None, description=(
        "Grading: the exposure (EV) it graded the photo with in this round, the preset's own or changed (a "
        "rework's rescue, or a first pass the look blew beyond the QC gate's limit on a line people work: "
        "tasks/operations.rescued). A file made again is graded with it, whatever the line or the code says now. "
        "None for other stages, and for grading recorded before this column."))
    kept_white: bool = Field(default=False, description=(
        "Grading: what the camera blew was kept white when its exposure was pulled down (tasks/pixels/tone)."))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class StageEvent(SQLModel, table=True):
    """Append-only: every move of a photo. Statistics come from here, not from Prefect's run history."""
    __tablename__ = "stage_events"
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    photo_id: int | None = Field(default=None, foreign_key="photos.id", index=True)
    work_item_id: int | None = Field(default=None, foreign_key="work_items.id")
    stage: str = Field(max_length=40)   # indexed by ix_events_figures (kind, stage, at, ...)
    round: int = 1
    kind: EventKind = Field(sa_column=_enum(EventKind))
    actor: str = Field(max_length=80)
    reason: str | None = Field(default=None, max_length=1000)
    blamed_stage: str | None = Field(default=None, max_length=40)
    seconds: float | None = Field(default=None, description=(
        "SUBMITTED: the touch (or machine) time of the work it closes; an item's first CLAIMED: its queue wait, "
        "from queued_at to this claim."))
    queued_at: datetime | None = Field(default=None, description=(
        "On an item's first CLAIMED event only: when the item was enqueued (its ENQUEUED event's time), written "
        "with the claim so the figures read queue waits without pairing events (record/figures/stages.py)."))
    at: datetime = Field(default_factory=utcnow)


class StageEventReason(SQLModel, table=True):
    """One reason code of a rejection: a QC rejection reads ``[clipped,colour_cast] DSC_0003.dng ...`` and carries
    one row here per code, written with the event (record.reasons), so the figures count rejections per reason in
    SQL (a rejection with two reasons counts once under each)."""
    __tablename__ = "stage_event_reasons"
    event_id: int = Field(foreign_key="stage_events.id", primary_key=True)
    code: str = Field(max_length=40, primary_key=True)


# The figures (record/figures) read the events of a kind, stage by stage, over a period. These indexes hold every
# column those reads need (all but the reason), so a report reads index entries, never the table: on SQLite a row
# looked up from an index costs several times its entry, and at 1M events those lookups were most of the report's
# time (bench/report.py). ix_events_figures (kind, stage, at, ...) finds a period's events stage by stage;
# ix_events_durations (kind, stage, seconds, ...) hands touch times over in order, so their median and p90 need no
# sort, and so are queue waits (an item's first CLAIMED event carries its wait and queued_at, migration 0005);
# ix_events_item_kind_at finds an item's events of a kind (its ENQUEUED event, when it is claimed). They replace the single-column
# indexes on stage and at, which led SQLite's planner to look rows up one by one.
_events = StageEvent.__table__.c
Index("ix_events_figures", _events.kind, _events.stage, _events.at, _events.photo_id, _events.round,
      _events.work_item_id, _events.actor, _events.seconds, _events.order_id, _events.blamed_stage)
Index("ix_events_durations", _events.kind, _events.stage, _events.seconds, _events.actor, _events.at,
      _events.photo_id, _events.round, _events.work_item_id, _events.order_id, _events.queued_at)
Index("ix_events_item_kind_at", _events.work_item_id, _events.kind, _events.at)


class CullSignals(SQLModel, table=True):
    """The cull's signals of one photo (tasks/pixels/cull.py), measured at ingest on a small picture of it and
    written in the same transaction as the photo. The measures are None when the photo could not be measured
    (``note`` says why): then the cull suggests nothing for it."""
    __tablename__ = "cull_signals"
    photo_id: int = Field(foreign_key="photos.id", primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    source: str | None = Field(default=None, max_length=12, description="preview (the camera's), sensor or image.")
    width: int | None = Field(default=None, description="Size of the picture measured, px.")
    height: int | None = None
    subject: str | None = Field(default=None, max_length=12, description="Where blur was measured: face, region, frame.")
    blur: float | None = Field(default=None, description="0 sharp .. 1 blurred, where the subject is (worst direction).")
    motion: float | None = Field(default=None, description="Spread of the blur over four directions (0 even).")
    motion_angle: int | None = Field(default=None, description="Direction blurred most, degrees: 0 horizontal, 90 vertical.")
    highlights: float | None = Field(default=None, description="Share of pixels with a clipped channel.")
    shadows: float | None = Field(default=None, description="Share of pixels with blocked shadows.")
    median_luma: float | None = None
    faces: int | None = Field(default=None, description="Frontal faces found.")
    eyes: str | None = Field(default=None, max_length=200, description=(
        "The eyes of each face read, largest first, comma-separated: open, shut, not_found, unsure."))
    phash: str | None = Field(default=None, max_length=16, description="Perceptual hash, 16 hex digits.")
    seconds: float | None = Field(default=None, description="Time the measure took.")
    note: str | None = Field(default=None, max_length=500, description="Why there are no signals.")


class CullVerdict(StrEnum):
    KEEP = "keep"
    REJECT = "reject"


class CullDecision(SQLModel, table=True):
    """Append-only: a person's decision on one photo at the review of the originals, written with its stage
    event, beside what the cull suggested for it and whether they agreed: how often the suggestion was right."""
    __tablename__ = "cull_decisions"
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    photo_id: int = Field(foreign_key="photos.id", index=True)
    suggested: CullVerdict = Field(sa_column=_enum(CullVerdict))
    reasons: str = Field(default="", max_length=200, description="The suggestion's reason codes, comma-separated.")
    decided: CullVerdict = Field(sa_column=_enum(CullVerdict))
    agreed: bool
    actor: str = Field(max_length=80)
    at: datetime = Field(default_factory=utcnow, index=True)


class LinkPurpose(StrEnum):
    """What a client link opens (record/links.py): each is signed for its purpose only."""
    GALLERY = "gallery"     # the client's gallery: the selection, later revision requests
    DOWNLOAD = "download"   # the order's delivery package
    PREVIEW = "preview"     # one photo's preview (e.g. in a Prefect form)


class ClientLink(SQLModel, table=True):
    """A link handed to someone outside the studio: signed with the installation's secret (the URL carries
    ``id``, ``nonce`` and the expiry, with their HMAC), and recorded here so that it can be revoked and its PIN
    guesses counted. The PIN is kept only as a salted scrypt hash."""
    __tablename__ = "client_links"
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    purpose: LinkPurpose = Field(sa_column=_enum(LinkPurpose))
    target: str | None = Field(default=None, max_length=200, description=(
        "What in the order it opens, when not the whole order: a photo id for a preview, a package's name..."))
    nonce: str = Field(max_length=32, description="Random, in the signed URL: a link is this row and no other.")
    expires_at: datetime
    pin_hash: str | None = Field(default=None, max_length=300)
    pin_failures: int = Field(default=0, description="Wrong PINs since the last right one (or the last lock).")
    pin_locked_until: datetime | None = Field(default=None, description="PINs are refused until then.")
    email: str | None = Field(default=None, max_length=254, description="Who it was sent to (and reminders go to).")
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=80)
    reminded_at: datetime | None = Field(default=None, description="Last reminder e-mailed with it.")
    reminders: int = Field(default=0, description="Reminders e-mailed with it.")


class ClientPick(SQLModel, table=True):
    """What the client said of one photo in the gallery's selection (written with its SELECTED or GRADED_ONLY
    event): a favourite (retouched) or not, in the album or not, and their note for the retoucher."""
    __tablename__ = "client_picks"
    photo_id: int = Field(foreign_key="photos.id", primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    favourite: bool
    album: bool = False
    note: str = Field(default="", max_length=1000)
    actor: str = Field(max_length=80)
    at: datetime = Field(default_factory=utcnow)


class QcMark(SQLModel, table=True):
    """A region the QC lead marked on a photo they sent back: a box (or a freehand outline inside it), as fractions
    of the frame (0..1 from the top left), so it fits the working file of the round it goes to whatever its size. Written with the rejection, on
    the new round's work item; the retoucher sees it drawn on the photo and `postline queue pull` writes it beside
    the working file as a mask (record/marks.py)."""
    __tablename__ = "qc_marks"
    id: int | None = Field(default=None, primary_key=True)
    work_item_id: int = Field(foreign_key="work_items.id", index=True, description="The round sent back to.")
    rejected_item_id: int = Field(foreign_key="work_items.id", description="The gate item rejected.")
    x: float = Field(ge=0, le=1, description="Left edge, a fraction of the width.")
    y: float = Field(ge=0, le=1, description="Top edge, a fraction of the height.")
    w: float = Field(gt=0, le=1, description="Width, a fraction of the width.")
    h: float = Field(gt=0, le=1, description="Height, a fraction of the height.")
    outline: str | None = Field(default=None, max_length=8000, description=(
        "A freehand region: its outline's points 'x,y x,y ...' (fractions, inside the box); None for the box."))
    note: str = Field(default="", max_length=500, description="The lead's reason and note for the region.")
    actor: str = Field(max_length=80)
    at: datetime = Field(default_factory=utcnow)


class ClockShift(SQLModel, table=True):
    """How far one camera body's clock was off during an order's shoot, as a lead set it: its photos were taken
    at ``capture_time + seconds`` (record.clocks). The camera's own time stays in ``photos.capture_time``."""
    __tablename__ = "clock_shifts"
    __table_args__ = (UniqueConstraint("order_id", "camera", name="uq_clock_shift_camera"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    camera: str = Field(max_length=200, description="The body, as record.clocks.camera_of names it.")
    seconds: float
    how: str = Field(max_length=300, description="What the lead gave: a shift, or two photos of one moment.")
    set_by: str = Field(max_length=80)
    set_at: datetime = Field(default_factory=utcnow)


class PhotoRating(SQLModel, table=True):
    """The photographer's own rating of one original (tasks/pixels/ratings.py: stars, the reject flag, a colour
    label, Photo Mechanic's tag), as read at ingest from its XMP sidecar on the card or from the file, or read
    again later (`postline order ratings N --read-again`). A row is kept only where something was found."""
    __tablename__ = "photo_ratings"
    photo_id: int = Field(foreign_key="photos.id", primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    stars: int | None = Field(default=None, description="-1 rejected, 0 unrated, 1-5 stars.")
    label: str | None = Field(default=None, max_length=40)
    tagged: bool = False
    source: str | None = Field(default=None, max_length=300, description="The sidecar's name on the card; None: "
                               "the file's own (its XMP or EXIF rating).")
    note: str | None = Field(default=None, max_length=500, description="What could not be read, so is not used.")
    read_at: datetime = Field(default_factory=utcnow)


class CardListing(SQLModel, table=True):
    """The files on an order's card folder when the order was created (tasks.ingest.scan_card's names, as a JSON
    list): a file gone from the folder when the order runs is named, not silently left out (tasks/ingest.py)."""
    __tablename__ = "card_listings"
    order_id: int = Field(foreign_key="orders.id", primary_key=True)
    names: str = Field(description="The card's entries as POSIX paths relative to the folder, a JSON list.")


class BlackAndWhiteRequest(SQLModel, table=True):
    """One photo asked for in black and white too: by the client, ticking it in the gallery's selection, or by the
    studio (`postline order bw`). Its delivery adds the black-and-white twins of the renditions the order's recipe
    names (presets/recipe.py, ``[black_and_white]``). Withdrawn: the row goes."""
    __tablename__ = "black_and_white_requests"
    photo_id: int = Field(foreign_key="photos.id", primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    actor: str = Field(max_length=80)
    at: datetime = Field(default_factory=utcnow)


class PersonRole(StrEnum):
    RETOUCHER = "retoucher"   # pulls and submits work in the stages they have the skill for
    LEAD = "lead"             # also sees every stage and gives QC decisions


class Person(SQLModel, table=True):
    """Someone who works on the line. Skills are stage keys (comma-separated); :mod:`record.people` reads them.
    The password is stored only as a salted scrypt hash; a person without one cannot sign in to the web page."""
    __tablename__ = "people"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40, unique=True, index=True, description="Sign-in name, e.g. 'ana'.")
    display_name: str = Field(max_length=80)
    role: PersonRole = Field(sa_column=_enum(PersonRole))
    skills: str = Field(default="", max_length=800, description="Stage keys this person works in, comma-separated.")
    password_hash: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow)


class SignInEnd(StrEnum):
    """Why a sign-in to the web page was ended before it expired."""
    SIGNED_OUT = "signed_out"               # the person signed out
    PASSWORD_CHANGED = "password_changed"   # their password was changed (every sign-in of theirs ends)


class SignIn(SQLModel, table=True):
    """One sign-in to the web page (a session). The browser's cookie carries a random token; the record keeps
    only its SHA-256, so a copy of this table signs nobody in. A sign-in counts until ``expires_at`` unless it
    was ended (``ended_at``): signing out ends it, a password change ends every sign-in of that person
    (:mod:`record.signins`)."""
    __tablename__ = "web_sessions"
    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True, index=True, description="SHA-256 of the cookie's token.")
    person_id: int = Field(foreign_key="people.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow, description="Last request (kept to the minute).")
    expires_at: datetime
    ended_at: datetime | None = None
    ended_why: SignInEnd | None = Field(default=None, sa_column=Column(
        SAEnum(SignInEnd, values_callable=lambda e: [m.value for m in e], native_enum=False, length=20),
        nullable=True))


# --- the stage queues' order ------------------------------------------------------------------------------

def queue_rank(rush: bool, due: date | None) -> str:
    """Sorts like the queues serve: rush orders first, then the nearest due date, orders without one last.
    A work item carries its order's rank, so picking the next item walks an index instead of sorting the queue."""
    return f"{0 if rush else 1}|{due.isoformat() if due else '9999-12-31'}"


# Picking the next item (record.queue.claim_next) walks this index in queue order and stops at the first
# queued item of the asked stages: it covers the whole choice, so no table row and no sort is needed.
Index("ix_items_queue_pick", WorkItem.__table__.c.status, WorkItem.__table__.c.queue_rank,
      WorkItem.__table__.c.created_at, WorkItem.__table__.c.id, WorkItem.__table__.c.stage)


@event.listens_for(WorkItem, "before_insert")
def _rank_new_item(_mapper, connection, item: WorkItem) -> None:  # noqa: ANN001
    if item.queue_rank is None:
        row = connection.execute(select(Order.rush, Order.due).where(Order.id == item.order_id)).first()
        item.queue_rank = queue_rank(bool(row.rush), row.due) if row else queue_rank(False, None)


@event.listens_for(Order, "after_update")
def _rerank_order_items(_mapper, connection, order: Order) -> None:  # noqa: ANN001
    state = inspect(order)
    if state.attrs.rush.history.has_changes() or state.attrs.due.history.has_changes():
        connection.execute(update(WorkItem).where(WorkItem.order_id == order.id)
                           .values(queue_rank=queue_rank(order.rush, order.due)))
