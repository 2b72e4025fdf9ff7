"""Stage queues: retouchers pull the next photo of their stages, work on it under a lease, and hand it back.

A work item (photo x stage x round) waits QUEUED until someone claims it. A claim is a lease: ``claimed_by``,
``lease_expires_at`` and ``attempt``; a heartbeat extends it; :func:`reap_expired` returns claims whose lease
ran out to the queue (a RELEASED event with reason ``'lease expired'``). Every status change goes through
:mod:`record.moves`, so it is guarded and writes its event in the same transaction.

Claiming itself (who may claim which stages, the claim statement that never gives one item to two people, the
turns claimers take) is :mod:`record.claims`; :func:`claim`, :func:`claim_next` and :func:`stages_for` are
found here too, as the queue's callers know them. Order of the queue: rush orders first, then the order's due
date (none last), then the item's age.

Two kinds of function:
- data functions (``claim_next``, ``heartbeat``, ``release``, ``reap_expired``, ``submit``, ``queue_depths``,
  ``mine``, ``open_items``, ``ensure_claimant``) take ``session`` and do not commit: the caller owns the
  transaction;
- top-level helpers (``claim``, ``pull``, ``submit_file``) own their transactions and the files; the CLI and
  the web page call these. :func:`check_result` is pure (files in, facts or :class:`ResultRefused` out).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from record import moves
from record.claims import DEFAULT_LEASE, claim, claim_next, stages_for  # noqa: F401  (the queue's callers' names)
from record.db import transaction
from record.errors import NoSkill, QueueError  # noqa: F401  (caught as queue.NoSkill, queue.QueueError)
from record.models import EventKind, Order, StageEvent, WorkItem, WorkStatus, utcnow

LEASE_EXPIRED = "lease expired"
OPEN = (WorkStatus.QUEUED, WorkStatus.CLAIMED)


class NoSuchItem(QueueError, LookupError):
    pass


class NotYourClaim(QueueError):
    """The item is not (or no longer) claimed by this person."""


class ResultRefused(QueueError):
    """The submitted file failed the result checks; ``problems`` lists each, naming the file."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class StageDepth:
    stage: str
    queued: int = 0
    claimed: int = 0
    oldest: datetime | None = None        # when the longest-waiting queued item was queued (UTC)
    earliest_due: date | None = None      # the nearest due date among queued items' orders


@dataclass(frozen=True)
class SubmitResult:
    item: WorkItem
    seconds: float | None                 # touch time: from the claim to the submit
    stage_done: bool                      # the order has no queued or claimed item left in this stage
    next_item: WorkItem | None = None     # the next stage's item, when ``enqueue_next`` was given


def _utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; every time in the record is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _get(session: Session, item_id: int) -> WorkItem:
    item = session.get(WorkItem, item_id, populate_existing=True)
    if item is None:
        raise NoSuchItem(f"there is no work item {item_id}; `postline queue mine --as NAME` lists your claims")
    return item


# --- after the claim ------------------------------------------------------------------------------------------

def _explain(session: Session, item: WorkItem, person: str) -> str:
    where = f"work item {item.id} ({item.stage}, round {item.round})"
    if item.status is WorkStatus.CLAIMED:
        return (f"{where} is claimed by {item.claimed_by}, not {person} (a lease that ran out lets someone else "
                f"take it); pull another with `postline queue pull --as {person}`")
    if item.status is WorkStatus.QUEUED:
        return (f"{where} is not claimed by {person}: it is back in the queue (released, or the lease ran out); "
                f"pull it again with `postline queue pull --as {person} --stage {item.stage}`")
    return f"{where} is already {item.status.value}; nothing more can be done with it"


def _lapsed_to_queue(session: Session, item: WorkItem, person: str) -> bool:
    """Whether ``item`` went back to the queue only because ``person``'s lease ran out (nobody took it since)."""
    if item.status is not WorkStatus.QUEUED:
        return False
    last = session.exec(
        select(StageEvent).where(StageEvent.work_item_id == item.id,
                                 col(StageEvent.kind).in_([EventKind.CLAIMED, EventKind.RELEASED]))
        .order_by(col(StageEvent.id).desc())
    ).first()
    return (last is not None and last.kind is EventKind.RELEASED and last.actor == person
            and last.reason == LEASE_EXPIRED)


def heartbeat(session: Session, *, item_id: int, person: str, lease: timedelta = DEFAULT_LEASE,
              now: datetime | None = None) -> WorkItem:
    """Keep ``person``'s claim until now + ``lease``. :class:`NotYourClaim` if it is not theirs (any more)."""
    item = _get(session, item_id)
    if item.status is not WorkStatus.CLAIMED or item.claimed_by != person:
        raise NotYourClaim(_explain(session, item, person))
    return moves.extend_lease(session, item, actor=person, lease_expires_at=(now or utcnow()) + lease)


def release(session: Session, *, item_id: int, person: str, reason: str | None = None) -> WorkItem:
    """Give a claim back: the item is QUEUED again (RELEASED event with ``reason``)."""
    item = _get(session, item_id)
    if item.status is not WorkStatus.CLAIMED or item.claimed_by != person:
        raise NotYourClaim(_explain(session, item, person))
    return moves.move_item(session, item, WorkStatus.QUEUED, actor=person, reason=reason or f"released by {person}",
                           guard=[col(WorkItem.claimed_by) == person])


def reap_expired(session: Session, now: datetime | None = None) -> int:
    """Return every claim whose lease ran out before ``now`` to the queue (RELEASED, reason 'lease expired',
    actor: the person whose lease it was). Returns how many. Does not commit."""
    now = now or utcnow()
    query = select(WorkItem).where(WorkItem.status == WorkStatus.CLAIMED, col(WorkItem.lease_expires_at) < now)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    expired = list(session.exec(query.execution_options(populate_existing=True)).all())
    for item in expired:
        moves.move_item(session, item, WorkStatus.QUEUED, actor=item.claimed_by or "postline", reason=LEASE_EXPIRED,
                        guard=[col(WorkItem.lease_expires_at) < now])
    return len(expired)


# --- handing back -----------------------------------------------------------------------------------------------

def open_items(session: Session, *, order_id: int, stage: str) -> int:
    """How many items of ``order_id`` in ``stage`` (any round) are still queued or claimed."""
    return session.exec(
        select(func.count()).select_from(WorkItem)
        .where(WorkItem.order_id == order_id, WorkItem.stage == stage, col(WorkItem.status).in_(OPEN))
    ).one()


def _claimed_at(session: Session, item_id: int, person: str) -> datetime | None:
    return _utc(session.exec(
        select(StageEvent.at).where(StageEvent.work_item_id == item_id, StageEvent.kind == EventKind.CLAIMED,
                                    StageEvent.actor == person)
        .order_by(col(StageEvent.id).desc())
    ).first())


def ensure_claimant(session: Session, *, item_id: int, person: str) -> WorkItem:
    """The item, if ``person`` may submit it: claimed by them (even past the lease, if nobody took it), or
    queued again only because their lease ran out. Else :class:`NotYourClaim`."""
    item = _get(session, item_id)
    if item.status is WorkStatus.CLAIMED and item.claimed_by == person:
        return item
    if _lapsed_to_queue(session, item, person):
        return item
    raise NotYourClaim(_explain(session, item, person))


def submit(session: Session, *, item_id: int, person: str, output_path: str, output_sha256: str,
           enqueue_next: str | None = None, now: datetime | None = None) -> SubmitResult:
    """Record ``person``'s finished work on ``item_id``: SUBMITTED with output path, checksum and touch time.

    Refused (:class:`NotYourClaim`) unless the item is claimed by ``person``. If their lease ran out and the
    item went back to the queue untouched, it is claimed again for them first (a second CLAIMED event), so
    finished work is not lost to a coffee break; if someone else took it, the submit is refused.
    ``enqueue_next``: queue the photo in that stage (same round, this output as input) in the same
    transaction. ``stage_done`` in the result tells the caller to resume the order's waiting flow run.
    Checks on the file are the caller's (:func:`check_result`, run before the transaction). Does not commit."""
    now = now or utcnow()
    item = ensure_claimant(session, item_id=item_id, person=person)
    started = _claimed_at(session, item.id, person)
    if item.status is WorkStatus.QUEUED:
        item = moves.move_item(session, item, WorkStatus.CLAIMED, actor=person, lease_expires_at=now + DEFAULT_LEASE,
                               reason="claimed again to take the result submitted after the lease ran out")
    seconds = (now - started).total_seconds() if started else None
    item = moves.move_item(session, item, WorkStatus.SUBMITTED, actor=person, seconds=seconds,
                           output_path=output_path, output_sha256=output_sha256,
                           guard=[col(WorkItem.claimed_by) == person])
    next_item = None
    if enqueue_next:
        next_item = moves.enqueue(session, order_id=item.order_id, photo_id=item.photo_id, stage=enqueue_next,
                                  round=item.round, input_path=output_path, actor=person)
    done = open_items(session, order_id=item.order_id, stage=item.stage) == 0
    return SubmitResult(item=item, seconds=seconds, stage_done=done, next_item=next_item)


# --- looking ---------------------------------------------------------------------------------------------------

def queue_depths(session: Session, stages: list[str] | None = None) -> list[StageDepth]:
    """Per stage: queued and claimed counts, when the oldest queued item was queued, the earliest due date
    among queued items. ``stages`` (in that order) are listed even when empty; other stages follow."""
    rows = session.exec(
        select(WorkItem.stage, WorkItem.status, func.count(), func.min(WorkItem.created_at), func.min(Order.due))
        .join(Order, col(Order.id) == WorkItem.order_id)
        .where(col(WorkItem.status).in_(OPEN)).group_by(WorkItem.stage, WorkItem.status)
    ).all()
    found: dict[str, dict[str, object]] = {}
    for stage, status, n, oldest, due in rows:
        entry = found.setdefault(stage, {})
        if WorkStatus(status) is WorkStatus.QUEUED:
            entry.update(queued=n, oldest=_utc(oldest), earliest_due=due)
        else:
            entry["claimed"] = n
    order = list(stages or []) + sorted(s for s in found if s not in (stages or []))
    return [StageDepth(stage=s, **found.get(s, {})) for s in order]


def mine(session: Session, person: str) -> list[WorkItem]:
    """What ``person`` holds now (claimed), the soonest-expiring lease first."""
    return list(session.exec(
        select(WorkItem).where(WorkItem.status == WorkStatus.CLAIMED, WorkItem.claimed_by == person)
        .order_by(col(WorkItem.lease_expires_at), col(WorkItem.id))
    ).all())


def lease_expiry(item: WorkItem) -> datetime | None:
    return _utc(item.lease_expires_at)


# --- result checks (pure) ----------------------------------------------------------------------------------------

DEFAULT_MAX_PIXELS = 200_000_000    # see config.settings.PostlineSettings.max_result_pixels
BYTES_PER_PIXEL = 8                 # the most a result may take once decoded per pixel: four 16-bit samples


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    channels: int
    bits: int
    format: str                  # 'TIFF' or 'JPEG'
    icc: bytes | None = field(repr=False)
    decoded_bytes: int = 0       # what its pixels take in memory once decoded, as the header declares them
    segment_pixels: int = 0      # the largest piece a decoder makes at once (a TIFF's tile), as declared


_EXPORT_HINT = "export it again as a 16-bit TIFF (no, ZIP or LZW compression) or an 8-bit TIFF/JPEG"


class _TooLarge(Exception):
    """Pillow would not open the image at all: it declares more pixels than Pillow's own limit."""


def _tiff_facts(path: Path) -> tuple[ImageFacts, Callable[[], object]]:
    """The first page's facts from its header (tifffile reads the tags, not the pixels), and how to decode it."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        bits = int(page.bitspersample)
        if bits not in (8, 16):
            raise ValueError(f"{bits}-bit samples")
        icc = page.tags.get(34675)
        facts = ImageFacts(width=int(page.imagewidth), height=int(page.imagelength),
                           channels=int(page.samplesperpixel), bits=bits, format="TIFF",
                           icc=bytes(icc.value) if icc is not None else None, decoded_bytes=int(page.nbytes),
                           segment_pixels=(page.tiledepth * page.tilelength * page.tilewidth if page.is_tiled
                                           else page.rowsperstrip * page.imagewidth))

    def decode() -> None:
        with tifffile.TiffFile(path) as tif:
            tif.pages[0].asarray()
    return facts, decode


def _pillow_facts(path: Path) -> tuple[ImageFacts, Callable[[], object]]:
    """The image's facts from Pillow's lazy open (the header only), and how to decode it."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format not in ("JPEG", "TIFF"):
                raise ValueError(f"a {image.format} file")
            channels = len(image.getbands())
            bits = 16 if image.mode.startswith("I;16") else 8
            facts = ImageFacts(width=image.width, height=image.height, channels=channels, bits=bits,
                               format=image.format, icc=image.info.get("icc_profile") or None,
                               decoded_bytes=image.width * image.height * channels * bits // 8,
                               segment_pixels=image.width * image.height)
    except Image.DecompressionBombError as exc:
        raise _TooLarge(str(exc)) from None

    def decode() -> None:
        with Image.open(path) as image:
            image.load()
    return facts, decode


def _too_large(name: str, facts: ImageFacts, max_pixels: int | None) -> str | None:
    """Why ``facts`` are more than this server decodes, or None."""
    pixels = facts.width * facts.height
    if max_pixels is None or (pixels <= max_pixels and facts.decoded_bytes <= max_pixels * BYTES_PER_PIXEL
            and facts.segment_pixels <= max_pixels):
        return None
    return (f"{name} declares {facts.width}x{facts.height} px, {facts.channels} x {facts.bits}-bit "
            f"({pixels / 1e6:,.0f} MP, {facts.decoded_bytes / 2 ** 30:,.1f} GiB once decoded), more than this "
            f"server opens: at most {max_pixels / 1e6:,.0f} MP (POSTLINE_MAX_RESULT_PIXELS). It was not decoded; "
            f"export at the working file's size")


def image_facts(path: Path, *, decode: bool = True, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageFacts:
    """Size, channels, bit depth and ICC profile of a TIFF or JPEG, read from its header; then, with ``decode``,
    every pixel is read (so a truncated or corrupt file is caught), but only if the header declares no more
    than ``max_pixels`` pixels (and at most 8 bytes of samples per pixel; None: no limit, for the line's own
    files read without decoding). Raises :class:`ResultRefused` naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise ResultRefused([f"{path}: cannot be read ({exc.strerror}); check the path"]) from None
    if not head:
        raise ResultRefused([f"{path.name} is empty (0 bytes): {_EXPORT_HINT}"])
    if head[:3] != b"\xff\xd8\xff" and head[:2] not in (b"II", b"MM"):
        raise ResultRefused([f"{path.name} is not a TIFF or JPEG file: {_EXPORT_HINT}"])
    errors = []
    for reader in [_tiff_facts, _pillow_facts] if head[:2] in (b"II", b"MM") else [_pillow_facts]:
        try:
            facts, decoder = reader(path)
        except _TooLarge as exc:
            raise ResultRefused([f"{path.name} declares more pixels than this server opens ({exc}); it was not "
                                 "decoded: export at the working file's size"]) from None
        except Exception as exc:  # noqa: BLE001 - any header failure means "not a usable image"
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        too_large = _too_large(path.name, facts, max_pixels)
        if too_large:
            raise ResultRefused([too_large])
        if not decode:
            return facts
        try:
            decoder()
            return facts
        except Exception as exc:  # noqa: BLE001 - any decoder failure means "not a usable image"
            errors.append(f"{type(exc).__name__}: {exc}")
    raise ResultRefused([f"{path.name} cannot be decoded as an image ({'; '.join(errors)[:300]}): {_EXPORT_HINT}"])


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    return _sha256(a) == _sha256(b)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_result(result: Path, working: Path, *, allow_crop: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageFacts:
    """Check a retoucher's ``result`` against the ``working`` file they pulled: its header declares no more
    than ``max_pixels`` pixels, it has the same pixel dimensions (with ``allow_crop``: no larger on either side),
    keeps colour (RGB stays RGB) and the embedded ICC profile if the working file had one, is not
    byte-identical to it, and decodes (16-bit TIFF, or 8-bit TIFF/JPEG). Every check that the header can answer
    runs before a pixel is decoded. Returns the result's facts, or raises :class:`ResultRefused` listing every
    problem."""
    result, working = Path(result), Path(working)
    facts = image_facts(result, decode=False, max_pixels=max_pixels)
    try:
        base = image_facts(working, decode=False, max_pixels=None)
    except ResultRefused as exc:
        raise QueueError(f"the working file {working} cannot be read ({exc}); tell the lead") from None
    problems = []
    size, base_size = f"{facts.width}x{facts.height}", f"{base.width}x{base.height}"
    if not allow_crop and (facts.width, facts.height) != (base.width, base.height):
        problems.append(f"{result.name} is {size} px but the working file is {base_size} px: this stage keeps the "
                        "canvas (no crop, resize or rotation); export at the original size")
    elif allow_crop and (facts.width > base.width or facts.height > base.height):
        problems.append(f"{result.name} is {size} px, larger than the working file ({base_size} px): a crop may "
                        "only remove pixels; export without enlarging")
    if base.channels >= 3 and facts.channels < 3:
        problems.append(f"{result.name} has {facts.channels} channel(s) but the working file is RGB: "
                        "convert back to RGB colour before exporting")
    if base.icc and not facts.icc:
        problems.append(f"{result.name} has no embedded colour profile but the working file had one: export "
                        "with 'Embed Color Profile' (sRGB) ticked")
    if problems:
        raise ResultRefused(problems)
    if _same_bytes(result, working):
        raise ResultRefused([f"{result.name} is byte-identical to the working file you pulled: nothing was "
                             "changed. Save your edited version and submit that file"])
    image_facts(result, max_pixels=max_pixels)     # now every pixel: a truncated or corrupt file is refused
    return facts


# --- top-level helpers (own their transactions) --------------------------------------------------------------------

def pull(*, person: str, stages: list[str] | None = None, lease: timedelta = DEFAULT_LEASE,
         url: str | None = None) -> WorkItem | None:
    """Return expired claims to the queue, then :func:`claim` the next item for ``person``. None: nothing to do."""
    with transaction(url) as session:
        reap_expired(session)
    return claim(person=person, stages=stages, lease=lease, url=url)


def store_result(file: Path, item: WorkItem) -> tuple[Path, str]:
    """Copy ``file`` into the work area, content-addressed (``<sha256[:16]>-<name>``, read-only, verified)."""
    from config.settings import get_settings
    from tasks.files import copy_with_checksum

    target = get_settings().work_dir / f"order-{item.order_id}" / item.stage / "submitted"
    path, sha, _size = copy_with_checksum(Path(file), target)
    return path, sha


def submit_file(*, item_id: int, person: str, file: Path, allow_crop: bool = False,
                enqueue_next: str | None = None, url: str | None = None) -> SubmitResult:
    """The whole hand-back: claim checked, file checked (:func:`check_result`, outside any transaction, so a
    slow decode holds no lock), copied into the work area by content, then :func:`submit` in one transaction.
    Raises :class:`NotYourClaim`, :class:`ResultRefused` or :class:`NoSuchItem`."""
    from config.settings import get_settings

    file = Path(file)
    with transaction(url) as session:
        item = ensure_claimant(session, item_id=item_id, person=person)
    if not item.input_path:
        raise QueueError(f"work item {item_id} has no working file recorded; tell the lead")
    check_result(file, Path(item.input_path), allow_crop=allow_crop, max_pixels=get_settings().max_result_pixels)
    stored, sha = store_result(file, item)
    with transaction(url) as session:
        return submit(session, item_id=item_id, person=person, output_path=str(stored), output_sha256=sha,
                      enqueue_next=enqueue_next)
