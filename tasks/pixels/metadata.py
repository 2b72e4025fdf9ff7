"""Recognise photo files and read the metadata the line needs, rejecting files that cannot be decoded.

RAW: rawpy/LibRaw opens the file and unpacks the sensor data (no demosaic), which is where LibRaw
notices truncation. It does NOT notice a TIFF-based RAW (NEF, DNG...) missing only its last few
KiB (it pads the missing pixels), so we also check that the image strips/tiles the file declares
fit inside it. rawpy has no make/model: a small bounded parser reads them (TIFF IFD0, Canon CIFF
record 0x080A, CR3 CMT1, Fujifilm RAF header); unknown -> None. CRW capture time comes from CIFF
record 0x180E: rawpy would shift it by the machine's time zone. JPEG/TIFF go through Pillow.
Known gap: Fujifilm SuperCCD (rotated sensor) output size is not predicted (rawpy hides fuji_width).
"""
from __future__ import annotations

import io
import math
import os
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

import rawpy
from PIL import Image, UnidentifiedImageError

from tasks.errors import PhotoError


class PhotoKind(str, Enum):
    RAW = "raw"
    JPEG = "jpeg"
    TIFF = "tiff"


RAW_EXTENSIONS = frozenset(  # what LibRaw reads
    ".3fr .ari .arw .bay .cap .cr2 .cr3 .crw .cs1 .dcr .dcs .dng .drf .eip .erf .fff .iiq .k25 .kdc .mdc "
    ".mef .mos .mrw .nef .nrw .orf .ori .pef .ptx .pxn .qtk .raf .raw .rw2 .rwl .rwz .sr2 .srf .srw .sti "
    ".x3f".split())
JPEG_EXTENSIONS = frozenset(".jpg .jpeg .jpe .jfif".split())
TIFF_EXTENSIONS = frozenset(".tif .tiff".split())
SIDECAR_EXTENSIONS = frozenset(  # edit/catalogue/thumbnail files found next to photos (.mrk: the camera's print order)
    ".xmp .thm .pp3 .dop .on1 .cos .acr .arp .aae .db .ini .ctg .lrv .json .md5 .mrk".split())
_KINDS = {PhotoKind.RAW: RAW_EXTENSIONS, PhotoKind.JPEG: JPEG_EXTENSIONS, PhotoKind.TIFF: TIFF_EXTENSIONS}

RECOPY = ("Re-copy it from the card into the order's card folder: the order's next run takes the new copy (run a "
          "delivered order again: its delivery is made again with it); the rest of the order goes on.")
WRONG_FILE = "Check that the right file was delivered; the rest of the order goes on."
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}  # LibRaw flip -> EXIF
_MAGIC = {  # file start -> (what it is, is a RAW container); CRW and CR3 are recognised in _signature()
    b"II*\0": ("TIFF-based RAW", True), b"MM\0*": ("TIFF-based RAW", True), b"IIU\0": ("Panasonic RW2", True),
    b"IIRO": ("Olympus ORF", True), b"IIRS": ("Olympus ORF", True), b"MMOR": ("Olympus ORF", True),
    b"FUJIFILM": ("Fujifilm RAF", True), b"FOVb": ("Sigma X3F", True), b"\0MRM": ("Minolta MRW", True),
    b"\xff\xd8\xff": ("JPEG image", False), b"\x89PNG": ("PNG image", False), b"PK\x03\x04": ("ZIP archive", False)}


def kind_of(path) -> PhotoKind | None:
    """Photo type by extension (case-insensitive); None for anything that is not a photo."""
    name = Path(path).name
    if name.startswith("._"):  # macOS AppleDouble companion ("._IMG_0001.CR2"), never a photo
        return None
    ext = Path(name).suffix.lower()
    return next((kind for kind, exts in _KINDS.items() if ext in exts), None)


@dataclass(frozen=True)
class PhotoMeta:
    kind: PhotoKind
    width: int  # as viewed: after orientation (RAW: LibRaw's postprocess size, pixel aspect included)
    height: int
    orientation: int  # EXIF 1..8
    camera_make: str | None
    camera_model: str | None
    lens: str | None
    capture_time: datetime | None
    iso: float | None
    exposure_time: float | None  # seconds
    f_number: float | None
    focal_length: float | None  # mm
    camera_serial: str | None = None  # the body's serial number (EXIF BodySerialNumber, DNG CameraSerialNumber)


class UnreadablePhoto(PhotoError):
    """Permanent: this file cannot be used. The message names it, says what is wrong and what to do."""


def _fail(path: Path, what: str, todo: str = RECOPY) -> UnreadablePhoto:
    return UnreadablePhoto(f"{path.name}: {what}. {todo}")


def read_metadata(path) -> PhotoMeta:
    """Metadata of one photo; raises UnreadablePhoto if it is not a photo or cannot be decoded."""
    path = Path(path)
    kind = kind_of(path)
    if kind is None:
        raise _fail(path, f"not a photo type ({path.suffix or 'no extension'})",
                    "Only RAW, JPEG and TIFF files are processed; leave it out of the order.")
    try:
        size = path.stat().st_size
        if size == 0:
            raise _fail(path, "the file is empty (0 bytes) - the copy did not complete")
        return _read_raw(path, size) if kind is PhotoKind.RAW else _read_pillow(path, kind)
    except (FileNotFoundError, IsADirectoryError) as e:
        raise _fail(path, f"cannot be opened ({e.strerror or type(e).__name__})",
                    "Check the file is still there and readable; the rest of the order goes on.") from e
    # other OSErrors (permission, a full or failing disk, a network share dropping out...) are the machine's,
    # not the file's: they propagate, and the run stops and retries (tasks.errors)


# ---------------------------------------------------------------- RAW

def _read_raw(path: Path, size: int) -> PhotoMeta:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        declared_end = _declared_data_end(f)
        make, model, camera_clock, serial = _camera_ids(f, head, size)
    if declared_end > size:
        raise _fail(path, f"the file is truncated: it ends at byte {size:,} but its image data runs "
                          f"to byte {declared_end:,} (incomplete copy)")
    src = os.fspath(path)
    try:
        src.encode("utf-8")
    except UnicodeEncodeError:  # undecodable name: rawpy passes paths as UTF-8, so use a buffer
        src = io.BytesIO(path.read_bytes())
    try:
        with rawpy.imread(src) as raw:
            raw.unpack()  # decodes the sensor data: truncation and corruption show up here
            s, other, lens = raw.sizes, raw.other, raw.lens.model
    except rawpy.LibRawError as e:
        raise _fail(path, *_libraw_problem(e, head)) from e
    w, h = s.width, s.height
    if s.pixel_aspect < 0.995:  # LibRaw's own stretch rule (e.g. Kodak DC120: 848 -> 1301 wide)
        h = int(h / s.pixel_aspect + 0.5)
    elif s.pixel_aspect > 1.005:
        w = int(w * s.pixel_aspect + 0.5)
    if s.flip & 4:
        w, h = h, w
    ts = camera_clock or (None if other.timestamp == datetime.fromtimestamp(0) else other.timestamp)
    return PhotoMeta(
        PhotoKind.RAW, w, h, _FLIP_TO_ORIENTATION.get(s.flip, 1), make, model, lens.strip() or None, ts,
        _positive(other.iso_speed), _positive(other.shutter_speed), _positive(other.aperture),
        _positive(other.focal_length), serial)


def _libraw_problem(e: rawpy.LibRawError, head: bytes) -> tuple[str, str]:
    """(what is wrong, what to do) for a file LibRaw refused. Said in postline's words: nothing of the file's
    content is quoted (the reason reaches the client's manifest, and the file may be anything)."""
    libraw = f"(LibRaw {'.'.join(map(str, rawpy.libraw_version))}: {type(e).__name__})"
    name, is_raw = _signature(head)
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head[:512]):  # LibRaw says "I/O error" for text
        return f"not a RAW file: its content is text {libraw}", WRONG_FILE
    if name and not is_raw:
        return f"not a RAW file: its content is a {name} {libraw}", WRONG_FILE
    if isinstance(e, rawpy.LibRawFileUnsupportedError):
        if not name:
            return f"not a RAW file LibRaw knows (its first bytes match no camera format) {libraw}", WRONG_FILE
        why = f"it starts like a {name} but " + (
            "its directory (kept at the end of the file) is missing - truncated" if name == "Canon CRW"
            else "LibRaw cannot decode it - truncated, or a camera too new for this LibRaw")
    else:
        why = {rawpy.LibRawIOError: "its image data ends early - the file is truncated",
               rawpy.LibRawDataError: "its image data is corrupted",
               rawpy.LibRawTooBigError: "it declares an implausible image size (corrupted header?)",
               }.get(type(e), "LibRaw cannot decode it")
    return f"not a readable RAW file: {why} {libraw}", RECOPY


def _signature(head: bytes) -> tuple[str | None, bool]:
    if head[6:14] == b"HEAPCCDR":
        return "Canon CRW", True
    if head[4:12] == b"ftypcrx ":
        return "Canon CR3", True
    return next((v for magic, v in _MAGIC.items() if head.startswith(magic)), (None, False))


# ------------------------------------------- minimal, bounded container parsers

_TIFF_MAGIC = {b"II*\0", b"MM\0*", b"IIRO", b"IIRS", b"MMOR", b"IIU\0"}
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 7: 1, 13: 4}  # byte, ascii, short, long, undefined, ifd
_PARSE_ERRORS = (ValueError, KeyError, IndexError, struct.error, OSError)


class _Tiff:
    """Just enough TIFF to read IFD entries; every read is bounds-checked."""

    def __init__(self, f, base: int = 0):
        f.seek(base)
        hdr = f.read(8)
        if hdr[:4] not in _TIFF_MAGIC:
            raise ValueError("not a TIFF header")
        self.f, self.base, self.e = f, base, "<" if hdr[:1] == b"I" else ">"
        self.first = struct.unpack(self.e + "I", hdr[4:8])[0]

    def _read(self, off: int, n: int) -> bytes:
        self.f.seek(self.base + off)
        if len(data := self.f.read(n)) < n:
            raise ValueError("short read")
        return data

    def ifd(self, off: int) -> tuple[dict, int]:
        (n,) = struct.unpack(self.e + "H", self._read(off, 2))
        if n > 1000:
            raise ValueError("implausible IFD")
        raw = self._read(off + 2, 12 * n + 4)
        entries = {}
        for i in range(n):
            tag, typ, count = struct.unpack_from(self.e + "HHI", raw, 12 * i)
            entries[tag] = (typ, count, raw[12 * i + 8:12 * i + 12])
        return entries, struct.unpack_from(self.e + "I", raw, 12 * n)[0]

    def value(self, entry) -> bytes | tuple[int, ...] | None:
        typ, count, inline = entry
        if typ not in _TYPE_SIZE or count > 1 << 16:
            return None
        n = _TYPE_SIZE[typ] * count
        data = inline[:n] if n <= 4 else self._read(struct.unpack(self.e + "I", inline)[0], n)
        if typ in (1, 2, 7):
            return data
        return struct.unpack(f"{self.e}{count}{'H' if typ == 3 else 'I'}", data)


def _declared_data_end(f) -> int:
    """Largest offset+length of the image strips/tiles of a TIFF-based file (0 if unknown)."""
    try:
        t = _Tiff(f)
    except _PARSE_ERRORS:
        return 0
    end, seen, todo = 0, set(), [t.first]
    while todo and len(seen) < 32:
        off = todo.pop()
        if not off or off in seen:
            continue
        seen.add(off)
        try:
            entries, nxt = t.ifd(off)
            subs = t.value(entries[330]) if 330 in entries else None  # SubIFDs (NEF/DNG raw data)
            todo += [nxt, *(subs if isinstance(subs, tuple) else ())]
            for o_tag, c_tag in ((273, 279), (324, 325)):  # strips, tiles
                offs = t.value(entries[o_tag]) if o_tag in entries else None
                counts = t.value(entries[c_tag]) if c_tag in entries else None
                if isinstance(offs, tuple) and isinstance(counts, tuple) and offs and len(offs) == len(counts):
                    end = max(end, *(o + c for o, c in zip(offs, counts)))
        except _PARSE_ERRORS:
            continue
    return end


def _camera_ids(f, head: bytes, size: int) -> tuple[str | None, str | None, datetime | None, str | None]:
    """(make, model, capture time if LibRaw would get it wrong, the body's serial number); None where unknown."""
    try:
        if head[6:14] == b"HEAPCCDR":
            e = "<" if head[:2] == b"II" else ">"
            start = struct.unpack(e + "I", head[2:6])[0]
            found = _ciff_records(f, e, start, size - start, {})
            make, model, *_ = found.get(0x080A, b"").split(b"\0") + [b"", b""]
            # 0x180E holds the camera clock as seconds since 1970; rawpy would shift it by the local zone
            secs = struct.unpack_from(e + "I", found[0x180E])[0] if len(found.get(0x180E, b"")) >= 4 else 0
            return _text(make), _text(model), datetime(1970, 1, 1) + timedelta(seconds=secs) if secs else None, None
        if head.startswith(b"FUJIFILM"):
            return "FUJIFILM", _text(head[0x1C:0x3C].split(b"\0")[0]), None, None
        cmt1 = head.find(b"CMT1") if head[4:12] == b"ftypcrx " else -1  # CR3: TIFF IFD0 in a box
        t = _Tiff(f, cmt1 + 4 if cmt1 >= 0 else 0)
        ifd0, _ = t.ifd(t.first)
        make, model = _text(t.value(ifd0.get(271, (0, 0, b"")))), _text(t.value(ifd0.get(272, (0, 0, b""))))
    except _PARSE_ERRORS:
        return None, None, None, None
    cmt2 = head.find(b"CMT2") if cmt1 >= 0 else -1                      # CR3: the EXIF IFD in the next box
    return make, model, None, _tiff_serial(t, ifd0, cmt2 + 4 if cmt2 >= 0 else None)


def _tiff_serial(t: _Tiff, ifd0: dict, exif_box: int | None) -> str | None:
    """The body's serial number a TIFF-based RAW declares: DNG's CameraSerialNumber in IFD0, else EXIF's
    BodySerialNumber. Maker notes are not read: their serials differ by maker, and old ones hold other numbers."""
    try:
        if 0xC62F in ifd0:
            return _serial(t.value(ifd0[0xC62F]))
        if exif_box is not None:
            t = _Tiff(t.f, exif_box)
            at = t.first
        elif 0x8769 in ifd0 and isinstance(pointer := t.value(ifd0[0x8769]), tuple) and pointer:
            at = pointer[0]
        else:
            return None
        exif, _ = t.ifd(at)
        return _serial(t.value(exif[0xA431])) if 0xA431 in exif else None
    except _PARSE_ERRORS:
        return None


_CIFF_WANTED = (0x080A, 0x180E)  # "Make\0Model\0", capture time


def _ciff_records(f, e: str, start: int, length: int, found: dict, depth: int = 0, seen: set | None = None):
    """Walk a Canon CIFF heap tree (bounded) and collect the _CIFF_WANTED records' bytes."""
    seen = set() if seen is None else seen
    if depth > 4 or length < 6 or len(seen) > 64 or (start, length) in seen:
        return found
    seen.add((start, length))
    f.seek(start + length - 4)
    dir_off = struct.unpack(e + "I", f.read(4))[0]
    f.seek(start + dir_off)
    (count,) = struct.unpack(e + "H", f.read(2))
    if count > 1024 or dir_off + 2 + 10 * count > length:
        return found
    table = f.read(10 * count)
    for i in range(count):
        tag, rsize, roff = struct.unpack_from(e + "HII", table, 10 * i)
        if tag & 0x4000 or roff + rsize > length:  # value held in the entry itself / out of bounds
            continue
        if tag & 0x3FFF in _CIFF_WANTED:
            f.seek(start + roff)
            found.setdefault(tag & 0x3FFF, f.read(min(rsize, 256)))
        elif tag & 0x3800 in (0x2800, 0x3000):  # a sub-heap
            _ciff_records(f, e, start + roff, rsize, found, depth + 1, seen)
        if len(found) == len(_CIFF_WANTED):
            break
    return found


# ---------------------------------------------------------------- JPEG / TIFF

_PIL_KIND = {"JPEG": PhotoKind.JPEG, "MPO": PhotoKind.JPEG, "TIFF": PhotoKind.TIFF}  # MPO: JPEG + MP extension


def _read_pillow(path: Path, kind: PhotoKind) -> PhotoMeta:
    label = kind.value.upper()
    try:
        with Image.open(path) as im:
            if im.format not in _PIL_KIND:
                raise _fail(path, f"named like a {label} but its content is {im.format}",
                            "Re-export it as JPEG or TIFF; the rest of the order goes on.")
            fmt, (w, h) = im.format, im.size
            if fmt == "TIFF":  # Pillow >= 11 reports TIFF sizes already oriented: use the stored ones
                w, h = im.tag_v2.get(256, w), im.tag_v2.get(257, h)
            try:
                exif = dict(im.getexif())  # a copy: loading a TIFF strips Orientation from the original
                sub = dict(im.getexif().get_ifd(0x8769))
            except (OSError, SyntaxError, ValueError, struct.error, KeyError):
                exif, sub = {}, {}  # broken EXIF: keep the photo, lose the metadata
            if fmt != "TIFF":
                im.draft(None, (max(1, w // 8), max(1, h // 8)))  # 1/8-scale decode still reads all data
            im.load()
    except UnidentifiedImageError:
        raise _fail(path, f"not a readable {label} file: its content is not an image Pillow knows") from None
    except (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise  # a real I/O error, not a broken image
        raise _fail(path, f"not a readable {label} file: its image data is truncated or corrupted "
                          f"(Pillow: {type(e).__name__})") from e
    orientation = exif.get(0x0112, 1)
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    if orientation >= 5:  # 5..8 are quarter turns
        w, h = h, w
    iso = sub.get(0x8827)
    return PhotoMeta(
        _PIL_KIND[fmt], w, h, orientation, _text(exif.get(0x010F)), _text(exif.get(0x0110)),
        _text(sub.get(0xA434)), _exif_time(sub.get(0x9003) or exif.get(0x0132)),
        _positive(iso[0] if isinstance(iso, tuple) and iso else iso),
        _positive(sub.get(0x829A)), _positive(sub.get(0x829D)), _positive(sub.get(0x920A)),
        _serial(exif.get(0xC62F) or sub.get(0xA431)))


# ---------------------------------------------------------------- small helpers

def _text(v) -> str | None:
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    return (v.strip("\0 \t\r\n") or None) if isinstance(v, str) else None


def _serial(v) -> str | None:
    """A serial number as the record keeps it: printable ASCII, at most 40 characters (None if it is not one: a
    file's bytes reach the lead's screen)."""
    text = _text(v)
    if not text or len(text) > 40 or not all(32 <= ord(c) < 127 for c in text):
        return None
    return text


def _positive(v) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def _exif_time(v) -> datetime | None:
    try:
        return datetime.strptime(_text(v)[:19], "%Y:%m:%d %H:%M:%S")
    except (TypeError, ValueError):
        return None
