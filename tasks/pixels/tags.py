"""The metadata of a delivered file: what it keeps of the original's, and what the studio writes. pyexiv2
(libexiv2) reads and writes EXIF, IPTC and XMP; no byte of metadata is built here by hand.

Kept, from the original (read once per photo with :func:`read_original`): the capture time, the camera, the
lens and the exposure. GPS and serial numbers (camera and lens, maker notes included) only when the recipe
keeps them. Nothing else of the original is copied: a delivered file starts without metadata (Pillow and
tifffile write none but the image's own TIFF tags), so what is not listed here cannot leak, maker notes and
owner names included.

Written (:func:`stamp`), in all three: artist (EXIF Artist, IPTC By-line, XMP dc:creator), copyright line
(EXIF Copyright, IPTC CopyrightNotice, XMP dc:rights), the studio's contact (EXIF UserComment, IPTC Contact,
XMP Iptc4xmpCore:CreatorContactInfo) and, unless the recipe says not to, the client's name (EXIF
ImageDescription, IPTC Caption-Abstract, XMP dc:description and plus:Licensee).

Gotchas met (see /work/team/research-packages.md): IPTC's fields have byte limits (By-line and Credit 32,
CopyrightNotice and Contact 128), so longer values are cut there, at a character boundary, and kept whole in
EXIF and XMP; IPTC declares UTF-8 (CharacterSet ESC % G). EXIF ASCII fields carry UTF-8 bytes, as exiftool
and Lightroom write them (Pillow shows them as latin-1). XMP structures need their array declared first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pyexiv2

pyexiv2.set_log_level(4)   # exiv2's own warnings about odd maker notes go nowhere; errors still raise

CAMERA = ("Exif.Image.Make", "Exif.Image.Model")
CAPTURE = ("Exif.Photo.DateTimeOriginal", "Exif.Photo.DateTimeDigitized", "Exif.Photo.SubSecTimeOriginal",
           "Exif.Photo.SubSecTimeDigitized", "Exif.Photo.OffsetTimeOriginal", "Exif.Photo.OffsetTimeDigitized")
EXPOSURE = ("Exif.Photo.ExposureTime", "Exif.Photo.FNumber", "Exif.Photo.ISOSpeedRatings",
            "Exif.Photo.ExposureProgram", "Exif.Photo.ExposureBiasValue", "Exif.Photo.MeteringMode",
            "Exif.Photo.Flash", "Exif.Photo.FocalLength", "Exif.Photo.FocalLengthIn35mmFilm",
            "Exif.Photo.WhiteBalance", "Exif.Photo.ExposureMode")
LENS = ("Exif.Photo.LensMake", "Exif.Photo.LensModel", "Exif.Photo.LensSpecification")
# TIFF/EP and DNG put some of these in IFD0: their Exif-IFD place in a delivered file
IFD0_ALIASES = {"Exif.Image.DateTimeOriginal": "Exif.Photo.DateTimeOriginal",
                "Exif.Image.ExposureTime": "Exif.Photo.ExposureTime", "Exif.Image.FNumber": "Exif.Photo.FNumber",
                "Exif.Image.ISOSpeedRatings": "Exif.Photo.ISOSpeedRatings",
                "Exif.Image.FocalLength": "Exif.Photo.FocalLength", "Exif.Image.LensInfo": "Exif.Photo.LensSpecification"}
SERIALS = ("Exif.Photo.BodySerialNumber", "Exif.Photo.LensSerialNumber", "Exif.Image.CameraSerialNumber")
XMP_SERIALS = ("Xmp.aux.SerialNumber", "Xmp.aux.LensSerialNumber", "Xmp.exifEX.BodySerialNumber",
               "Xmp.exifEX.LensSerialNumber")
IPTC_LIMITS = {"Iptc.Application2.Byline": 32, "Iptc.Application2.Credit": 32,
               "Iptc.Application2.Copyright": 128, "Iptc.Application2.Contact": 128,
               "Iptc.Application2.Caption": 2000}
EXIF_TIME = "%Y:%m:%d %H:%M:%S"


@dataclass(frozen=True)
class Kept:
    """What a photo's delivered files keep of its original: EXIF and XMP key -> value, as pyexiv2 reads them."""
    exif: dict[str, str] = field(default_factory=dict)
    xmp: dict[str, object] = field(default_factory=dict)

    @property
    def capture(self) -> datetime | None:
        value = self.exif.get("Exif.Photo.DateTimeOriginal")
        try:
            return datetime.strptime(value, EXIF_TIME) if value else None
        except ValueError:
            return None

    def shifted(self, shift: timedelta) -> Kept:
        """The same, its capture times set right by ``shift`` (a camera clock that was off: record.clocks)."""
        if not shift:
            return self
        exif = dict(self.exif)
        for key in ("Exif.Photo.DateTimeOriginal", "Exif.Photo.DateTimeDigitized"):
            try:
                exif[key] = (datetime.strptime(exif[key], EXIF_TIME) + shift).strftime(EXIF_TIME)
            except (KeyError, ValueError, OverflowError):
                continue
        return Kept(exif, self.xmp)


@dataclass(frozen=True)
class Credit:
    """What the studio writes into every file of a delivery."""
    artist: str
    copyright: str
    studio: str
    email: str = ""
    phone: str = ""
    website: str = ""
    client: str | None = None      # None: the recipe keeps the client's name out of the files
    dpi: int = 300

    @property
    def contact(self) -> str:
        return " · ".join(p for p in (self.studio, self.email, self.phone, self.website) if p)


def _maker_serial(exif: dict[str, str]) -> str | None:
    """A camera serial number a maker note holds (Exif.Canon.SerialNumber, Exif.Nikon3.SerialNumber, ...)."""
    for key, value in exif.items():
        group = key.split(".")[1] if key.count(".") >= 2 else ""
        if group not in ("Image", "Photo", "GPSInfo") and key.endswith(".SerialNumber") and str(value).strip():
            return str(value).strip()
    return None


def read_original(path: Path, *, keep_gps: bool, keep_serials: bool, fallback: dict[str, str] | None = None) -> Kept:
    """What the delivered files of ``path`` (an original: RAW, JPEG or TIFF) keep. ``fallback``: EXIF values the
    production record knows when the file has none (the camera and capture time ingest read; for a RAW type
    libexiv2 cannot read, all of them)."""
    exif: dict[str, str] = {}
    xmp: dict[str, object] = {}
    try:
        with pyexiv2.ImageData(Path(path).read_bytes()) as image:
            source, source_xmp = image.read_exif(), image.read_xmp()
    except (RuntimeError, ValueError):      # a format libexiv2 does not read: the record's values only
        source, source_xmp = {}, {}
    for alias, key in IFD0_ALIASES.items():
        if alias in source and key not in source:
            source[key] = source[alias]
    for key in CAMERA + CAPTURE + EXPOSURE + LENS:
        if str(source.get(key, "")).strip():
            exif[key] = source[key]
    for key, value in (fallback or {}).items():
        if value and key not in exif:
            exif[key] = value
    if keep_gps:
        exif.update({k: v for k, v in source.items() if k.startswith("Exif.GPSInfo.")})
        xmp.update({k: v for k, v in source_xmp.items() if k.startswith("Xmp.exif.GPS")})
    if keep_serials:
        exif.update({k: source[k] for k in SERIALS if source.get(k)})
        if "Exif.Photo.BodySerialNumber" not in exif and (serial := _maker_serial(source)):
            exif["Exif.Photo.BodySerialNumber"] = serial
        xmp.update({k: source_xmp[k] for k in XMP_SERIALS if source_xmp.get(k)})
    return Kept(exif, xmp)


def _cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` UTF-8 bytes, cut at a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _iptc(credit: Credit, kept: Kept) -> dict[str, object]:
    values: dict[str, object] = {"Iptc.Envelope.CharacterSet": "\x1b%G",
                                 "Iptc.Application2.Byline": [credit.artist],
                                 "Iptc.Application2.Copyright": credit.copyright,
                                 "Iptc.Application2.Credit": credit.studio,
                                 "Iptc.Application2.Contact": [credit.contact]}
    if credit.client:
        values["Iptc.Application2.Caption"] = credit.client
    if kept.capture:
        values["Iptc.Application2.DateCreated"] = kept.capture.strftime("%Y-%m-%d")
    for key, limit in IPTC_LIMITS.items():
        if isinstance(values.get(key), list):
            values[key] = [_cut(v, limit) for v in values[key]]
        elif key in values:
            values[key] = _cut(values[key], limit)
    return values


def _xmp(credit: Credit, kept: Kept) -> dict[str, object]:
    values: dict[str, object] = {
        "Xmp.dc.creator": [credit.artist],
        "Xmp.dc.rights": {'lang="x-default"': credit.copyright},
        "Xmp.photoshop.Credit": credit.studio,
        "Xmp.xmpRights.Marked": "True",
        "Xmp.xmp.CreatorTool": "postline",
    }
    contact = {"CiEmailWork": credit.email, "CiTelWork": credit.phone, "CiUrlWork": credit.website}
    values.update({f"Xmp.iptc.CreatorContactInfo/Iptc4xmpCore:{k}": v for k, v in contact.items() if v})
    if credit.website:
        values["Xmp.xmpRights.WebStatement"] = credit.website
    if kept.capture:
        values["Xmp.photoshop.DateCreated"] = kept.capture.isoformat()
    if credit.client:
        values["Xmp.dc.description"] = {'lang="x-default"': credit.client}
    values.update(kept.xmp)
    return values


def stamp(data: bytes, kept: Kept, credit: Credit) -> bytes:
    """``data`` (a JPEG or TIFF file's bytes, pixels and ICC profile left as they are) with the kept metadata and
    the studio's written into EXIF, IPTC and XMP."""
    exif = dict(kept.exif)
    exif.update({"Exif.Image.Artist": credit.artist, "Exif.Image.Copyright": credit.copyright,
                 "Exif.Image.Software": "postline", "Exif.Image.Orientation": "1",
                 "Exif.Image.XResolution": f"{credit.dpi}/1", "Exif.Image.YResolution": f"{credit.dpi}/1",
                 "Exif.Image.ResolutionUnit": "2", "Exif.Photo.UserComment": f"charset=Unicode {credit.contact}"})
    if credit.client:
        exif["Exif.Image.ImageDescription"] = credit.client
    with pyexiv2.ImageData(data) as image:
        image.modify_exif(exif)
        image.modify_iptc(_iptc(credit, kept))
        xmp = _xmp(credit, kept)
        if credit.client:
            image.modify_xmp({"Xmp.plus.Licensee": 'type="Seq"'})      # the array before its first item
            xmp["Xmp.plus.Licensee[1]/plus:LicenseeName"] = credit.client
        image.modify_xmp(xmp)
        return image.get_bytes()
