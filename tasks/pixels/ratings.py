"""The photographer's own rating of a frame: stars, the reject flag, a colour label and Photo Mechanic's tag, as
Lightroom, Photo Mechanic, Capture One, Bridge, darktable or the camera itself wrote them.

Where they are: an XMP sidecar beside the RAW on the card (``IMG_0001.xmp``, or darktable's ``IMG_0001.CR2.xmp``:
:mod:`tasks.ratings` finds it), or in the file itself (an XMP packet in a TIFF-based RAW or a JPEG, or EXIF's
Rating tag, which cameras write when a frame is rated on their screen).

What is read (XMP, the ``http://ns.adobe.com/xap/1.0/`` namespace, whatever its prefix):
- ``xmp:Rating``: 1-5 stars, 0 none, -1 rejected (Lightroom's reject flag, darktable's reject);
- ``xmp:Label``: a colour label by name ("Red", "Green", or a studio's own: "Select");
- Photo Mechanic's ``photomechanic:Tagged`` and ``photomechanic:ColorClass`` (1 Winner .. 8 Trash), or its
  ``Prefs`` ("tagged:class:rating:frame") when those are absent.

Values are taken as attributes of an ``rdf:Description`` or as its child elements: both forms are XMP. A packet
with a document type declaration (entities, the "billion laughs") is not parsed; neither is one larger than
``MAX_XMP_BYTES``. A value out of range is left out, and the note says so: a rating that cannot be read
changes nothing. Nothing here opens a card file: a sidecar's bytes are given (tasks/ratings.py reads them
from the card); :func:`embedded` reads the archived copy of a photo."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from tasks.pixels.metadata import _PARSE_ERRORS, _Tiff

MAX_XMP_BYTES = 16 << 20            # Adobe's sidecars with masks run to a few MB
MAX_LABEL = 40

_XMP = "http://ns.adobe.com/xap/1.0/"
_PM = "http://ns.camerabits.com/photomechanic/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
# Photo Mechanic's colour classes, as it names them
PM_CLASSES = {1: "Winner", 2: "Winner alt", 3: "Superior", 4: "Superior alt", 5: "Typical", 6: "Typical alt",
              7: "Extras", 8: "Trash"}
_TIFF_XMP, _TIFF_RATING = 0x02BC, 0x4746


@dataclass(frozen=True)
class FrameRating:
    """One frame's rating. ``stars``: -1 rejected, 0 or None unrated, 1-5."""
    stars: int | None = None
    label: str | None = None
    tagged: bool = False
    source: str | None = None         # the sidecar's name on the card; None: the file itself
    note: str | None = None           # what could not be read, and so is not used

    @property
    def rejected(self) -> bool:
        return self.stars == -1

    @property
    def empty(self) -> bool:
        return not self.stars and not self.label and not self.tagged


def from_xmp(data: bytes, sidecar: str | None = None) -> FrameRating:
    """The rating an XMP packet holds (a sidecar's bytes, its card name given, or the packet found in a file); a
    packet that cannot be read gives none, and a note naming where it was."""
    source = sidecar or "the file's own XMP"
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):          # UTF-16 (rare): its NULs are its text
        data = data.strip(b"\0 \t\r\n")                           # a packet's padding, a stray blank line
    if not data:
        return FrameRating(source=sidecar, note=f"{source}: empty: the copy did not finish, or the program had not "
                                                 "written it yet")
    if len(data) > MAX_XMP_BYTES:
        return FrameRating(source=sidecar, note=f"{source}: larger than {MAX_XMP_BYTES >> 20} MB, not read as XMP")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return FrameRating(source=sidecar, note=f"{source}: declares a document type (XMP never does): not read")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return FrameRating(source=sidecar, note=f"{source}: not readable XMP ({_where(exc)}); its rating is not used")
    except (LookupError, ValueError):                              # an encoding Python does not know
        return FrameRating(source=sidecar, note=f"{source}: not readable XMP (its declared encoding is unknown); its "
                                                 "rating is not used")
    notes: list[str] = []
    values = _values(root)
    rating = _rating(values.get((_XMP, "Rating")), source, notes)
    label = _label(values.get((_XMP, "Label")), source, notes)
    tagged = _truth(values.get((_PM, "Tagged")))
    color = _int(values.get((_PM, "ColorClass")))
    prefs = (values.get((_PM, "Prefs")) or "").split(":")
    if tagged is None and len(prefs) >= 2:                     # "tagged:class:rating:frame"
        tagged, color = _int(prefs[0]) == 1, color if color is not None else _int(prefs[1])
        if rating is None:
            rating = _rating(prefs[2] if len(prefs) > 2 else None, source, notes)
    if label is None and color in PM_CLASSES:
        label = PM_CLASSES[color]
    return FrameRating(stars=rating, label=label, tagged=bool(tagged), source=sidecar, note="; ".join(notes) or None)


def embedded(path: Path) -> FrameRating | None:
    """The rating written into a photo file itself: its XMP packet (TIFF-based RAWs, DNG, TIFF, JPEG), else EXIF's
    Rating; None when it holds neither. CR3, CRW and RAF keep theirs elsewhere: not read."""
    path = Path(path)
    packet, rating = _in_jpeg(path) if path.suffix.lower() in (".jpg", ".jpeg", ".jpe", ".jfif") else _in_tiff(path)
    found = from_xmp(packet) if packet else None
    if found is not None and (not found.empty or found.note or rating is None):
        return found
    if rating is not None and 0 <= rating <= 5:
        return FrameRating(stars=rating)
    return found


def _in_tiff(path: Path) -> tuple[bytes | None, int | None]:
    try:
        with open(path, "rb") as f:
            t = _Tiff(f)
            ifd0, _ = t.ifd(t.first)
            packet = _tiff_bytes(t, ifd0.get(_TIFF_XMP))
            rating = t.value(ifd0[_TIFF_RATING]) if _TIFF_RATING in ifd0 else None
    except _PARSE_ERRORS:
        return None, None
    return packet, rating[0] if isinstance(rating, tuple) and rating else None


def _tiff_bytes(t: _Tiff, entry) -> bytes | None:  # noqa: ANN001 - an IFD entry
    """A byte-typed tag's value, up to MAX_XMP_BYTES (_Tiff.value stops at 64 KiB, which a packet can pass)."""
    if entry is None or entry[0] not in (1, 7) or not 0 < entry[1] <= MAX_XMP_BYTES:
        return None
    typ, count, inline = entry
    return inline[:count] if count <= 4 else t._read(struct.unpack(t.e + "I", inline)[0], count)


def _in_jpeg(path: Path) -> tuple[bytes | None, int | None]:
    try:
        with Image.open(path) as im:
            packet = im.info.get("xmp")
            rating = im.getexif().get(_TIFF_RATING)
    except (UnidentifiedImageError, SyntaxError, ValueError, struct.error, KeyError):
        return None, None
    except OSError as exc:
        if exc.errno is not None:
            raise                                    # the machine's failure, not the file's
        return None, None
    packet = packet.encode() if isinstance(packet, str) else packet
    return packet if isinstance(packet, bytes) else None, rating if isinstance(rating, int) else None


def _values(root: ET.Element) -> dict[tuple[str, str], str]:
    """Every simple property of every rdf:Description, attribute or element, by (namespace, name); the first of
    each wins."""
    found: dict[tuple[str, str], str] = {}
    for description in root.iter(f"{{{_RDF}}}Description"):
        for key, value in description.attrib.items():
            if key.startswith("{"):
                found.setdefault(tuple(key[1:].split("}", 1)), value)
        for child in description:
            if child.tag.startswith("{") and len(child) == 0 and child.text is not None:
                found.setdefault(tuple(child.tag[1:].split("}", 1)), child.text.strip())
    return found


def _rating(value: str | None, source: str, notes: list[str]) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if number in (-1, 0, 1, 2, 3, 4, 5):
        return int(number)
    notes.append(f"{source}: a rating of {_shown(value)} is none of -1 (rejected), 0 and 1-5 stars: not used")
    return None


def _label(value: str | None, source: str, notes: list[str]) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_LABEL or not value.isprintable():
        notes.append(f"{source}: a colour label of {len(value)} characters, or not printable: not used")
        return None
    return value


def _truth(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("true", "1", "yes")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _shown(value: str) -> str:
    return repr(value[:20] + ("..." if len(value) > 20 else ""))


def _where(exc: ET.ParseError) -> str:
    line, column = getattr(exc, "position", (0, 0))
    return f"broken at line {line}, column {column}"
