"""One photo's delivered files, made in one pass: its final master read and decoded once, its original's
metadata read once, every rendition of the recipe made from that one decode (tasks/pixels/renditions.py)
and stamped with the kept and the studio's metadata (tasks/pixels/tags.py).

The files are made under the order's work folder, content-keyed (:func:`render_key`: the master's and the
original's checksums, the recipe, the studio's settings, the client), each written under a temporary name and
renamed when complete: a run that stopped half-way makes only what is missing. Once the package holding them is
written and verified, the recipe's files are removed from there (tasks/deliver.py: the package is their home,
each entry of its manifest carrying its render key), and a later delivery takes a photo's files whose key has
not changed from the order's last package (:func:`packed_files`), so re-packaging an order (`postline deliver
N`) or delivering a revision decodes only the photos that changed. Plus two files the package is made from and
does not hold as such, kept in the work folder: a thumbnail for the contact sheet and, for an album, the photo
at the album's size."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import tifffile

from presets.recipe import FileFormat, Recipe, Rendition
from presets.model import OutputSpace
from tasks.errors import Permanent
from tasks.files import work_path
from tasks.pixels import kernels, mono, renditions, tags
from tasks.pixels.imageio import U16
from tasks.pixels.layout import SpreadParams

class MasterGone(Permanent):
    """A photo's finished file is no longer there (working files are removed after the revision window), so its
    renditions cannot be made again; the message names it."""


CONTACT = "_contact"          # the contact sheet's thumbnail
SHOWN = "_shown"              # the finished photo as the gallery and preview links show it once its master is gone
SHOWN_EDGE = 1600
ALBUM = "_album"              # the photo at the album's size, for the spreads
CONTACT_EDGE = 360            # a contact sheet's cell is about 330 x 240 px (A4 at 150 dpi, 5 x 4)


@dataclass(frozen=True)
class Job:
    """One photo to deliver, as the production record has it."""
    photo_id: int
    source_name: str
    source_sha256: str
    original_path: str | None
    master_path: str
    master_sha256: str | None
    fallback: dict[str, str] = field(default_factory=dict)   # EXIF the record knows (camera, lens, capture time)
    clock_shift: float = 0.0     # seconds its camera's clock was behind (record.clocks): its files' times set right
    black_and_white: bool = False    # asked for in black and white too (record.black_and_white): the recipe's twins


@dataclass(frozen=True)
class Studio:
    """Who delivers, and to whom (config/settings.py; the order's client)."""
    name: str
    artist: str
    copyright: str          # with {year} still in it
    email: str
    phone: str
    website: str
    client: str
    order_id: int
    order_year: int

    def credit(self, year: int | None, *, client_name: bool, dpi: int) -> tags.Credit:
        line = self.copyright.replace("{year}", str(year or self.order_year)).replace("{studio}", self.name)
        return tags.Credit(artist=self.artist, copyright=line, studio=self.name, email=self.email, phone=self.phone,
                           website=self.website, client=self.client if client_name else None, dpi=dpi)


def internal(recipe: Recipe, album: bool, black_and_white: bool = False) -> list[Rendition]:
    """The renditions the package is made from: the recipe's (and their black-and-white twins for a photo asked
    for in black and white: :meth:`Recipe.for_photo`), the contact thumbnail, the picture shown once the master is
    gone (:func:`shown`) and (album) the album size."""
    extra = [Rendition.model_construct(key=CONTACT, long_edge=CONTACT_EDGE, quality=90,
                                       colour_space=OutputSpace.SRGB),
             Rendition.model_construct(key=SHOWN, long_edge=SHOWN_EDGE, quality=90, colour_space=OutputSpace.SRGB)]
    if album:
        edge = max(SpreadParams(dpi=recipe.album.dpi).size_px)
        extra.append(Rendition.model_construct(key=ALBUM, long_edge=edge, quality=95, colour_space=OutputSpace.SRGB))
    return list(recipe.for_photo(black_and_white)) + extra


def render_key(job: Job, recipe: Recipe, studio: Studio, album: bool) -> str:
    """What a photo's delivered files are made from, as one key: the same key, the same files. How black and white
    is made counts only for a photo with a black-and-white rendition."""
    shifted = [job.clock_shift] if job.clock_shift else []      # unshifted photos keep the keys they had
    grey = job.black_and_white or recipe.makes_black_and_white
    asked = ["black_and_white"] if job.black_and_white else []   # photos not asked for keep the keys they had
    return hashlib.sha256(json.dumps([recipe.digest(black_and_white=grey), asdict(studio), album, job.master_sha256,
                                      job.source_sha256, job.fallback, *shifted, *asked], sort_keys=True,
                                     default=str).encode()).hexdigest()[:16]


def cache_folder(order_id: int, job: Job, recipe: Recipe, studio: Studio, album: bool) -> Path:
    return _folder(order_id, job.photo_id, render_key(job, recipe, studio, album))


def _folder(order_id: int, photo_id: int, key: str) -> Path:
    return work_path(order_id, "delivery", photo_id, 0, f"-{key}")


@dataclass(frozen=True)
class Packed:
    """A file of a package: the ZIP it is in, its name there and its SHA-256."""
    zip: Path
    arcname: str
    sha256: str


def packed_files(package: Path | None) -> dict[tuple[str, str], Packed]:
    """The files of the package at ``package`` (the order's last), by (render key, rendition key); empty when there
    is none, or its manifest is older than render keys or unreadable (the files are then made again)."""
    manifest = package / "manifest.json" if package is not None else None
    if manifest is None or not manifest.is_file():
        return {}
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8")).get("files", [])
        return {(e["render_key"], e["rendition"]): Packed(package / e["zip"], e["path"], e["sha256"])
                for e in entries if e.get("render_key")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _unpack(packed: Packed, path: Path) -> bool:
    """``packed``'s bytes written at ``path`` if its ZIP holds them unchanged; False when it does not."""
    try:
        with zipfile.ZipFile(packed.zip) as archive:
            data = archive.read(packed.arcname)
    except (OSError, KeyError, zipfile.BadZipFile):
        return False
    if hashlib.sha256(data).hexdigest() != packed.sha256:
        return False
    _write(path, data)
    return True


def _files(order_id: int, job: Job, recipe: Recipe, studio: Studio, album: bool
           ) -> tuple[str, Path, dict[str, Path], list[Rendition]]:
    """The photo's render key, its folder, each rendition's file there, and the renditions not made there yet."""
    wanted = internal(recipe, album, job.black_and_white)
    key = render_key(job, recipe, studio, album)
    folder = _folder(order_id, job.photo_id, key)
    paths = {r.key: file_for(folder, r) for r in wanted}
    return key, folder, paths, [r for r in wanted if not paths[r.key].is_file()]


def needs_master(order_id: int, job: Job, recipe: Recipe, studio: Studio, album: bool,
                 packed: dict[tuple[str, str], Packed]) -> bool:
    """Whether delivering the photo needs its finished file decoded: some of its files are neither made already
    nor in the order's last package."""
    key, _, _, missing = _files(order_id, job, recipe, studio, album)
    return any((key, r.key) not in packed for r in missing)


def shown(order_id: int, photo_id: int) -> Path | None:
    """The finished photo as its last delivery made it, 1600 px, sRGB JPEG: what the client's gallery and preview
    links show once its finished file has gone (tasks/deliver.py removes what it can make again); None before."""
    made = [(path.stat().st_mtime_ns, path) for path in
            work_path(order_id, "delivery", photo_id, 0, "").parent.glob(f"{photo_id}-r0-*/{SHOWN}.jpg")]
    return max(made)[1] if made else None


def file_for(folder: Path, rendition: Rendition) -> Path:
    extension = ".tif" if rendition.format is FileFormat.TIFF else ".jpg"
    return folder / f"{rendition.key}{extension}"


def master_codes(master: bytes) -> np.ndarray:
    """A 16-bit working TIFF's bytes -> its 16-bit codes (HxWx3 uint16)."""
    codes = tifffile.imread(io.BytesIO(master))
    if codes.ndim != 3 or codes.shape[2] != 3 or codes.dtype != np.uint16:
        raise ValueError(f"expected a 16-bit RGB master, found {codes.dtype} {codes.shape}")
    return codes


def make_files(master: bytes | np.ndarray, kept: tags.Kept, studio: Studio, recipe: Recipe,
               wanted: list[Rendition]) -> dict[str, bytes]:
    """Rendition key -> file bytes, every one of ``wanted`` from one decode of ``master`` (a 16-bit working
    TIFF's bytes, or its codes: :func:`master_codes`); the recipe's renditions stamped with metadata, the internal
    ones not."""
    codes = master_codes(master) if isinstance(master, bytes) else master
    display = kernels.times_u16(codes, 1.0 / U16)
    year = kept.capture.year if kept.capture else None
    fields = {"studio": studio.name, "client": studio.client, "order": str(studio.order_id)}
    out = {}
    for made in renditions.make_all(display, wanted, fields=fields, codes=codes,
                                    look=mono.Look.of(recipe.black_and_white)):
        key = made.rendition.key
        if key.startswith("_"):
            out[key] = made.data
        else:
            credit = studio.credit(year, client_name=recipe.metadata.client_name, dpi=made.rendition.dpi)
            out[key] = tags.stamp(made.data, kept, credit)
    return out


def render(order_id: int, job: Job, recipe: Recipe, studio: Studio, album: bool,
           packed: dict[tuple[str, str], Packed] | None = None) -> dict[str, Path]:
    """The photo's files (rendition key -> path): made already, taken from the order's last package (``packed``:
    :func:`packed_files`), or made now. Raises RuntimeError when the master changed after its stage recorded it,
    OSError when the disk fails."""
    key, folder, paths, missing = _files(order_id, job, recipe, studio, album)
    if missing and packed:
        folder.mkdir(parents=True, exist_ok=True)
        missing = [r for r in missing if (key, r.key) not in packed or not _unpack(packed[(key, r.key)], paths[r.key])]
    if not missing:
        return paths
    if not Path(job.master_path).is_file():
        raise MasterGone(f"{job.source_name}: its finished file {job.master_path} is gone (working files are removed "
                         "once the revision window has passed), so its renditions cannot be made again; the package "
                         "delivered before stays as it was")
    master = Path(job.master_path).read_bytes()
    if job.master_sha256 and hashlib.sha256(master).hexdigest() != job.master_sha256:
        raise RuntimeError(f"{job.source_name}: the finished file {job.master_path} changed after its stage "
                           "recorded it; re-run that stage before delivery")
    kept = tags.Kept()
    if job.original_path and Path(job.original_path).is_file():
        kept = tags.read_original(Path(job.original_path), keep_gps=recipe.metadata.keep_gps,
                                  keep_serials=recipe.metadata.keep_serials, fallback=job.fallback)
    elif job.fallback:
        kept = tags.Kept(exif=dict(job.fallback))
    kept = kept.shifted(timedelta(seconds=job.clock_shift))
    folder.mkdir(parents=True, exist_ok=True)
    codes = master_codes(master)
    del master                  # the file's bytes (100 MB at 24 MP) are not kept while the renditions are made
    for key, data in make_files(codes, kept, studio, recipe, missing).items():
        _write(paths[key], data)
    return paths


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
