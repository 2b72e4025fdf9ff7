"""File handling shared by the tasks: the card's files (regular files only, never through a link), archive
copies with checksums, work paths, what the rest of an order will write, leftovers of interrupted runs, and
removing what an order no longer needs."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from text_unidecode import unidecode

from config.errors import Permanent
from config.line import StageSpec
from config.settings import get_settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
INCOMING_PREFIX = ".incoming-"
LINK = "a symbolic link, not followed: copy the file (or folder) itself onto the card folder, not a link to it"


class NotRegularFile(Permanent):
    """A card entry that is not a regular file (a link, a pipe, a device...): never read. The message says
    what it is and what to do, without the file's name (the caller adds it)."""


def _ascii(text: str) -> str:
    """``text`` in ASCII letters, digits, . _ - (accents dropped, anything else one '_'), no dot or '_' at the ends."""
    return _UNSAFE.sub("_", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()).strip("._")


def safe_name(name: str, *, max_length: int = 100) -> str:
    """A file name that is safe on every file system and in a zip: ASCII letters, digits, . _ -, its extension
    kept (it tells a photo's kind): '日本_写真.dng' -> 'photo.dng' (it was 'dng', and the photo was refused as
    having no extension)."""
    stem, dot, ext = name.rpartition(".")
    ext = _ascii(ext) if dot and stem.strip(".") else ""
    if len(ext) >= 10:                                  # not an extension: part of the name
        ext = ""
    stem = _ascii(stem if ext else name) or "photo"
    return stem[: max_length - len(ext) - 1] + "." + ext if ext else stem[:max_length]


# --- the card: regular files inside the card folder, nothing else --------------------------------------------

def what_it_is(mode: int) -> str | None:
    """Why an entry of this ``st_mode`` (from lstat) is not read; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return LINK
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file: not read. Remove it from the card folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file, not a photo: not read. Remove it from the card folder"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file: not read. Remove it from the card folder"
    if stat.S_ISDIR(mode):
        return "a folder where a file was expected: not read"
    return "not a regular file: not read. Remove it from the card folder"


def card_entry_problem(card: Path, name: str) -> str | None:
    """Why the card entry ``name`` is not read (a link, a pipe, a device...), without following it; None for a
    regular file. A file that has gone raises FileNotFoundError."""
    return what_it_is(os.lstat(Path(card) / name).st_mode)


def open_card_file(card: Path, name: str) -> BinaryIO:
    """Open the regular file ``name`` (a relative POSIX path) of the card folder for reading, following no link
    on the way: each folder is opened relative to the one above it with O_NOFOLLOW, then the file itself, so a
    link swapped in after the card was scanned is refused, not followed. Raises :class:`NotRegularFile` for
    anything but a regular file inside the card."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise NotRegularFile("not a path inside the card folder: not read")
    with naming(Path(card) / name):
        return _open_card_file(card, parts)


def _open_card_file(card: Path, parts: tuple[str, ...]) -> BinaryIO:
    base = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    folder_fd = os.open(card, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, base | os.O_DIRECTORY, dir_fd=folder_fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise NotRegularFile(f"inside {part}, {LINK}") from None
                raise
            os.close(folder_fd)
            folder_fd = inner
        try:  # O_NONBLOCK: opening a pipe must not wait for a writer; it is refused just below
            fd = os.open(parts[-1], base | os.O_NONBLOCK, dir_fd=folder_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise NotRegularFile(LINK) from None
            raise
    finally:
        os.close(folder_fd)
    try:
        problem = what_it_is(os.fstat(fd).st_mode)
        if problem is None and not _inside(fd, card):
            problem = "not inside the card folder: not read"
        if problem:
            raise NotRegularFile(problem)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """OSErrors raised inside name ``path`` when they name no file of their own (a failed read() names none), so
    the message of a failing disk names the right one: the card's or postline's."""
    try:
        yield
    except OSError as exc:
        if not (isinstance(exc.filename, str) and os.path.isabs(exc.filename)):
            exc.filename = str(path)
        raise


def _inside(fd: int, card: Path) -> bool:
    """Where the kernel says the open file is, under the card folder (Linux; elsewhere the walk above is the check)."""
    proc = f"/proc/self/fd/{fd}"
    if not os.path.exists(proc):
        return True
    return Path(os.readlink(proc)).is_relative_to(Path(card).resolve())


# --- archive copies ---------------------------------------------------------------------------------------------

def copy_with_checksum(source: Path | BinaryIO, target_dir: Path, *, name: str | None = None,
                       origin: Path | None = None, chunk: int = 1 << 20) -> tuple[Path, str, int]:
    """Copy ``source`` into ``target_dir`` as ``<sha256[:16]>-<safe name>``, read-only, and verify the copy.
    ``source`` is a path, or a file open for reading (left open), whose ``name`` and ``origin`` (its path, for
    error messages) are then given. Returns (path, sha256, size).
    Content-keyed: copying the same bytes twice writes once. The copy is written under a temporary name
    (``.incoming-*``) and renamed when complete and verified; an interrupted copy is removed."""
    name = name or Path(source).name
    target_dir.mkdir(parents=True, exist_ok=True)
    # its own temporary name: two files of one name (in two card folders, or two names alike once made safe) may be
    # copied by two threads at once, and one's rename took the other's copy away ("not there now")
    tmp = target_dir / f"{INCOMING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{safe_name(name)}"
    digest = hashlib.sha256()
    size = 0
    try:
        with (open(source, "rb") if isinstance(source, (str, Path)) else nullcontext(source)) as src, \
                open(tmp, "wb") as dst:
            while True:
                with naming(origin or Path(source)):
                    block = src.read(chunk)
                if not block:
                    break
                digest.update(block)
                with naming(tmp):
                    dst.write(block)
                size += len(block)
            with naming(tmp):
                dst.flush()
                os.fsync(dst.fileno())
        sha = digest.hexdigest()
        final = target_dir / f"{sha[:16]}-{safe_name(name)}"
        if final.exists() and sha256_of(final) == sha:
            tmp.unlink()
        else:
            if sha256_of(tmp) != sha:
                raise OSError(errno.EIO, f"{name}: the archive copy does not match the card file; check the disk",
                              str(tmp))
            os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final, sha, size


def sha256_of(path: Path | BinaryIO, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with (open(path, "rb") if isinstance(path, (str, Path)) else nullcontext(path)) as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def remove_files(paths: list[Path], *, at_once: int = 8) -> int:
    """Remove ``paths`` (those already gone are skipped); the bytes freed. Several at a time: on a disk mounted
    with online discard (SSDs often are) each removal waits for the device, 4 ms for a 4 MB master here, and a
    few of them wait together (bench/tidy.py). Every path is tried; the first other error is raised after."""
    def one(path: Path) -> int:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    with ThreadPoolExecutor(max(1, min(at_once, len(paths))), thread_name_prefix="postline-remove") as pool:
        futures = [pool.submit(one, path) for path in paths]
    for future in futures:
        if (error := future.exception()) is not None:
            raise error
    return sum(future.result() for future in futures)


def client_folder(client: str) -> str:
    """The archive's folder for a client: ASCII letters, digits, . _ - (a hostile name cannot make a path:
    '../../etc' -> 'etc'), the letters of any script spelled in Latin ones ('Zoë & Łukasz' -> 'Zoe_Lukasz',
    'Ωμέγα Παπαδοπούλου' -> 'Omega_Papadopoulou', 'Дмитрий' -> 'Dmitrii'), so a studio's clients are not all
    in one folder because their names are not written in Latin letters."""
    return _ascii(unidecode(client))[:60] or "client"


def _client_folder_before(client: str) -> str:
    """:func:`client_folder` as postline named it until 2026-12: letters it could not decompose were dropped
    ('Zoë & Łukasz' -> 'Zoe_ukasz'; a Greek or Russian name -> 'client')."""
    return _ascii(client)[:60] or "client"


def order_folder(order_id: int, client: str, year: int) -> Path:
    """The order's place in the archive, by client and year: its originals and its delivery packages. An order
    archived under the folder name of before (:func:`_client_folder_before`) stays where it is."""
    archive = get_settings().archive_dir
    folder = archive / client_folder(client) / str(year) / f"order-{order_id}"
    before = archive / _client_folder_before(client) / str(year) / f"order-{order_id}"
    return before if before != folder and not folder.exists() and before.is_dir() else folder


def order_archive(order_id: int) -> Path:
    """:func:`order_folder` of order ``order_id``, from the record (its client, and the year it was created)."""
    from record.db import transaction
    from record.models import Order

    with transaction() as session:
        order = session.get(Order, order_id)
        if order is None:
            raise LookupError(f"no order {order_id}; `postline status` lists the orders")
        return order_folder(order.id, order.client, order.created_at.year)


def archive_dir(order_id: int) -> Path:
    """The order's originals: ``<archive>/<client>/<year>/order-N/originals`` (an order first ingested before the
    archive was kept by client keeps its ``<archive>/order-N/originals``)."""
    legacy = get_settings().archive_dir / f"order-{order_id}" / "originals"
    return legacy if legacy.is_dir() else order_archive(order_id) / "originals"


def work_path(order_id: int, stage: str, photo_id: int, round: int, suffix: str = ".tif") -> Path:
    return get_settings().work_dir / f"order-{order_id}" / stage / f"{photo_id}-r{round}{suffix}"


def store_result(file: Path, *, order_id: int, stage: str) -> tuple[Path, str]:
    """Keep a retoucher's handed-back ``file`` in the work area, content-addressed
    (``work/order-N/<stage>/submitted/<sha256[:16]>-<name>``, read-only, the copy verified). Returns (path, sha256)."""
    target = get_settings().work_dir / f"order-{order_id}" / stage / "submitted"
    path, sha, _size = copy_with_checksum(Path(file), target)
    return path, sha


# --- leftovers of an interrupted run ------------------------------------------------------------------------------

def leftovers(order_id: int) -> list[Path]:
    """Temporary files a dead run of this order left behind: archive copies in progress (``.incoming-*``), working
    files, JPEGs and delivery renditions being written (``.<name>.<pid>.tmp``), and a delivery zip an earlier
    postline was writing (``.order-N-<client>.zip.<pid>.tmp``). Complete files are only ever renamed into place,
    so these are never anything but unfinished copies. (A half-written delivery package, a folder, is removed by
    the delivery itself before it writes: tasks/package.py.)"""
    settings = get_settings()
    found = list(archive_dir(order_id).glob(f"{INCOMING_PREFIX}*"))
    found += [p for p in (settings.work_dir / f"order-{order_id}").rglob(".*.tmp") if p.is_file()]
    found += list(settings.delivery_dir.glob(f".order-{order_id}-*.zip.*.tmp"))
    return found


# --- space --------------------------------------------------------------------------------------------------------

WORKING_COMPRESSION = 0.7   # a compressed 16-bit working TIFF of a photo, of its 6 bytes a pixel (Zstandard, Deflate)
DELIVERY_BYTES_PER_PIXEL = 8   # its delivery's files as made (the print TIFF's 3 a pixel, JPEGs), the package's ZIPs
#                                of them and the download ZIP, at their most at once (tests/test_full_disk.py)


def bytes_still_needed(order_id: int, stages: Sequence[StageSpec], card_names: list[tuple[Path, str]] = ()) -> int:
    """About how many bytes the rest of the order will still write under POSTLINE_HOME, from the record: for each
    photo in the line, a compressed 16-bit working TIFF for each master still to write (one where each run of
    automatic stages ends and for each stage people work: tasks/stages.py fuses the rest), and
    DELIVERY_BYTES_PER_PIXEL times its pixel count for its delivery files, their copy in the package's ZIPs and in
    its download ZIP; for each card
    file not yet archived (``card_names``: (card folder, name)), its size for the archive copy and four times
    that per master (a working TIFF is about four times its RAW). Advice for a full disk, not a promise."""
    from sqlmodel import col, select

    from record.db import transaction
    from record.models import Photo, PhotoStatus, WorkItem, WorkStatus

    keys = [spec.key for spec in stages]
    people = [spec.needs_people for spec in stages]
    writes = [people[i] or i + 1 == len(stages) or people[i + 1] for i in range(len(stages))]  # a master written
    masters_from = [sum(writes[i:]) for i in range(len(stages))]
    in_line = (PhotoStatus.INGESTED, PhotoStatus.PASSED, PhotoStatus.HELD)
    with transaction() as session:
        photos = session.exec(select(Photo).where(Photo.order_id == order_id,
                                                  col(Photo.status).in_(in_line))).all()
        open_items = session.exec(select(WorkItem.photo_id, WorkItem.stage).where(
            WorkItem.order_id == order_id,
            col(WorkItem.status).in_((WorkStatus.QUEUED, WorkStatus.CLAIMED)))).all()
    at = {photo_id: stage for photo_id, stage in open_items}
    total = 0
    for photo in photos:
        pixels = (photo.width or 0) * (photo.height or 0)
        stage = at.get(photo.id)
        left = masters_from[keys.index(stage)] if stage in keys else 0
        total += int(pixels * 6 * WORKING_COMPRESSION * left) + pixels * DELIVERY_BYTES_PER_PIXEL
    for card, name in card_names:
        try:
            size = os.lstat(Path(card) / name).st_size
        except OSError:
            continue
        total += size + size * 4 * (masters_from[0] if stages else 0)
    return total


# --- what an order holds on disk (tasks/retention.py; `postline status` and the report, without Prefect) -----

@dataclass(frozen=True)
class DiskUse:
    """Bytes an order holds on disk, by kind."""
    working: int
    originals: int
    deliveries: int

    @property
    def total(self) -> int:
        return self.working + self.originals + self.deliveries


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (0 when it is not there); links are not followed."""
    total = 0
    stack = [Path(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def working_folder(order_id: int) -> Path:
    return get_settings().work_dir / f"order-{order_id}"


def disk_use(order_id: int) -> DiskUse:
    """What order ``order_id`` holds on disk now, read from the file system (a few thousand stat calls for a
    big order). Deliveries: the packages beside the originals in the order's archive folder (tasks/package.py),
    and the zips of deliveries made before packages were."""
    originals = archive_dir(order_id)
    zips = get_settings().delivery_dir.glob(f"order-{order_id}-*.zip")
    packages = folder_bytes(originals.parent) - folder_bytes(originals)
    return DiskUse(working=folder_bytes(working_folder(order_id)), originals=folder_bytes(originals),
                   deliveries=packages + sum(path.stat().st_size for path in zips if path.is_file()))
