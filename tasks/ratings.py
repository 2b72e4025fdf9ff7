"""The photographer's rating of a card file (tasks/pixels/ratings.py): from its XMP sidecar on the card, else from
the file itself. The sidecar is looked for beside the photo under the names the cataloguing programs give it:
``IMG_0001.xmp`` (Lightroom, Photo Mechanic, Capture One, Bridge; also ``.XMP``), then ``IMG_0001.CR2.xmp``
(darktable). It is read as the card's photos are: a link or a pipe in its place is not followed, and said."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path, PurePosixPath

from tasks.errors import transient_cause
from tasks.files import NotRegularFile, open_card_file
from tasks.pixels.ratings import MAX_XMP_BYTES, FrameRating, embedded, from_xmp

SIDECAR_SUFFIXES = (".xmp", ".XMP", ".Xmp")


def sidecar_of(card: Path, name: str) -> str | None:
    """The card name of ``name``'s XMP sidecar, or None when it has none."""
    path = PurePosixPath(name)
    for candidate in [path.with_suffix(s) for s in SIDECAR_SUFFIXES] + \
                     [path.with_name(path.name + s) for s in SIDECAR_SUFFIXES]:
        if candidate == path:
            continue
        try:
            os.lstat(Path(card) / candidate)
        except (FileNotFoundError, NotADirectoryError):
            continue
        return candidate.as_posix()
    return None


def read_rating(card: Path, name: str, original: Path) -> FrameRating | None:
    """The rating of the card file ``name`` (archived as ``original``): its sidecar's, else the file's own; None
    when neither holds one. A sidecar that cannot be read gives a note, and the file's own rating if it has one.
    Advisory, as the cull's signals are: only the machine's failures (a full disk, I/O) are raised."""
    try:
        return _read(card, name, original)
    except Exception as exc:  # noqa: BLE001
        if transient_cause(exc) is not None:
            raise
        return FrameRating(note=f"its rating could not be read ({type(exc).__name__})")


def _read(card: Path, name: str, original: Path) -> FrameRating | None:
    side = sidecar_of(card, name)
    if side is None:
        return embedded(original)
    try:
        with open_card_file(card, side) as f:
            found = from_xmp(f.read(MAX_XMP_BYTES + 1), side)
    except NotRegularFile as exc:
        found = FrameRating(source=side, note=f"{side}: {exc}; its rating is not used")
    except FileNotFoundError:
        return embedded(original)                       # gone since it was found
    except OSError as exc:
        if transient_cause(exc) is not None:
            raise
        found = FrameRating(source=side, note=f"{side}: cannot be read ({exc.strerror or type(exc).__name__})")
    if found.note and found.empty:                      # the sidecar gave nothing: the file's own, if it has one
        inside = embedded(original)
        if inside is not None and not inside.empty:
            return replace(inside, note=found.note)
    return found
