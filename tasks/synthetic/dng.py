"""The synthetic camera: scene-referred linear sRGB in, a DNG file LibRaw decodes faithfully out.

The model is a simple linear camera: scene linear sRGB (D65) -> XYZ -> camera-native RGB through
CAMERA_XYZ_TO_CAM, scaled so that scene white (1, 1, 1) puts the strongest channel exactly at sensor
white; the resulting camera neutral is written as AsShotNeutral, the matrix as ColorMatrix1 (D65).
The data is mosaiced into RGGB, offset by a black level and written as uncompressed 16-bit
little-endian TIFF/EP with the DNG tags, plus a small EXIF IFD (LibRaw only reads ISO from there).

`write_dng` takes the image in *sensor* orientation; `meta.orientation` only tags how to view it.
Decoding exactly back needs rawpy's `adjust_maximum_thr=0.0`: LibRaw's default (0.75) rescales any
file whose brightest raw value lies between 75% and 100% of WhiteLevel up to full scale.
"""
from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import tifffile

from tasks.pixels.colour import rgb_to_xyz

# --- the camera -------------------------------------------------------------------------------
# XYZ (D65) -> camera native RGB; same form and magnitudes as a real Bayer CMOS sensor's D65
# ColorMatrix (weak red, strong green response; neutral comes out near (0.45, 1, 0.80)).
CAMERA_XYZ_TO_CAM = np.array([[1.0405, -0.3755, -0.1270],
                              [-0.5461, 1.3787, 0.1793],
                              [-0.1040, 0.2015, 0.6785]])
_SCENE_TO_CAM = CAMERA_XYZ_TO_CAM @ rgb_to_xyz("srgb")
_CAM_NEUTRAL = _SCENE_TO_CAM.sum(axis=1)                    # camera response to scene white
AS_SHOT_NEUTRAL = _CAM_NEUTRAL / _CAM_NEUTRAL.max()          # strongest channel = 1
SCENE_TO_RAW = (_SCENE_TO_CAM / _CAM_NEUTRAL.max()).astype(np.float32)  # 1.0 = sensor white

BLACK_LEVEL = 256
WHITE_LEVEL = 16383                                          # 14-bit sensor
CFA_RGGB = (0, 1, 1, 2)
ILLUMINANT_D65 = 21
RATIONAL_DENOMINATOR = 1_000_000

# TIFF field types and tag numbers not covered by tifffile's writer arguments
BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 1, 2, 3, 4, 5, 7, 10
TAG_ORIENTATION, TAG_EXIF_IFD = 274, 34665
_EXIF_PLACEHOLDER = TAG_EXIF_IFD - 1   # tifffile refuses to write 34665; renamed in place afterwards


@dataclass(frozen=True)
class DngMeta:
    make: str = "Postline"
    model: str = "Synthetic Camera"
    iso: int = 100
    exposure_time: float = 1 / 125       # seconds
    f_number: float = 5.6
    focal_length: float = 50.0
    capture_time: datetime = datetime(2026, 6, 20, 14, 30, 0)
    orientation: int = 1                 # TIFF/EXIF orientation 1..8 (6 = rotate 90 CW to view)
    lens: str = "Synthetic 50mm f/1.8"
    serial: str | None = None            # the body's serial number (DNG CameraSerialNumber), if any


def _rationals(values) -> list[int]:
    """Flat [numerator, denominator, ...] for TIFF (S)RATIONAL fields."""
    fractions = [Fraction(float(v)).limit_denominator(RATIONAL_DENOMINATOR) for v in np.ravel(values)]
    return [n for f in fractions for n in (f.numerator, f.denominator)]


def _mosaic(scene: np.ndarray) -> np.ndarray:
    """RGGB mosaic of the camera-native raw values, black/white scaled, as uint16 (H x W)."""
    h, w, _ = scene.shape
    raw = np.empty((h, w), np.float32)
    for dy, dx, channel in ((0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 2)):
        site, row = scene[dy::2, dx::2], SCENE_TO_RAW[channel]
        raw[dy::2, dx::2] = site[..., 0] * row[0] + site[..., 1] * row[1] + site[..., 2] * row[2]
    np.clip(raw, 0.0, 1.0, out=raw)
    raw *= WHITE_LEVEL - BLACK_LEVEL
    raw += BLACK_LEVEL + 0.5                                 # + 0.5: round on truncation
    return raw.astype(np.uint16)


def _exif_ifd(meta: DngMeta, offset: int) -> bytes:
    """A little-endian EXIF IFD to be placed at file `offset` (long values follow its table)."""
    stamp = meta.capture_time.strftime("%Y:%m:%d %H:%M:%S").encode() + b"\0"
    lens = meta.lens.encode() + b"\0"
    rat = lambda v: struct.pack("<2I", *_rationals(v))  # noqa: E731
    entries = [(33434, RATIONAL, 1, rat(meta.exposure_time)), (33437, RATIONAL, 1, rat(meta.f_number)),
               (34855, SHORT, 1, struct.pack("<H", min(int(meta.iso), 65535))),
               (36864, UNDEFINED, 4, b"0231"), (36867, ASCII, len(stamp), stamp),
               (37386, RATIONAL, 1, rat(meta.focal_length)), (42036, ASCII, len(lens), lens)]
    data_at = offset + 2 + 12 * len(entries) + 4
    table, data = struct.pack("<H", len(entries)), b""
    for tag, kind, count, payload in entries:
        if len(payload) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\0")
        else:
            table += struct.pack("<HHII", tag, kind, count, data_at + len(data))
            data += payload + b"\0" * (len(payload) % 2)
    return table + struct.pack("<I", 0) + data


def _append_exif(path: Path, meta: DngMeta) -> None:
    """Append the EXIF IFD to a written classic TIFF; turn IFD0's placeholder entry into ExifIFD."""
    with open(path, "r+b") as f:
        end = f.seek(0, os.SEEK_END)
        offset = end + (-end) % 4
        f.write(b"\0" * (offset - end) + _exif_ifd(meta, offset))
        f.seek(4)
        ifd0 = struct.unpack("<I", f.read(4))[0]
        f.seek(ifd0)
        (count,) = struct.unpack("<H", f.read(2))
        table = f.read(12 * count)
        for i in range(count):
            if struct.unpack_from("<H", table, 12 * i)[0] == _EXIF_PLACEHOLDER:
                f.seek(ifd0 + 2 + 12 * i)
                f.write(struct.pack("<HHII", TAG_EXIF_IFD, LONG, 1, offset))
                return
    raise RuntimeError("ExifIFD placeholder tag not found")


def write_dng(path, scene_linear_srgb: np.ndarray, meta: DngMeta = DngMeta()) -> Path:
    """Write `scene_linear_srgb` (float HxWx3, linear sRGB/Rec.709 D65, 1.0 = sensor white, sensor
    orientation) as an RGGB 14-bit-in-16 DNG with `meta`. H and W must be even. Atomic; returns path."""
    path = Path(path)
    scene = np.asarray(scene_linear_srgb, dtype=np.float32)
    if scene.ndim != 3 or scene.shape[2] != 3:
        raise ValueError(f"scene must be HxWx3, got shape {scene.shape}")
    if scene.shape[0] % 2 or scene.shape[1] % 2:
        raise ValueError(f"height and width must be even for a 2x2 CFA, got {scene.shape[:2]}")
    if not 1 <= meta.orientation <= 8:
        raise ValueError(f"orientation must be 1..8, got {meta.orientation}")
    tags = [  # (code, type, count, value, write-once)
        (TAG_ORIENTATION, SHORT, 1, meta.orientation, True),
        (33421, SHORT, 2, (2, 2), True),                     # CFARepeatPatternDim
        (33422, BYTE, 4, CFA_RGGB, True),                    # CFAPattern
        (_EXIF_PLACEHOLDER, LONG, 1, 0, True),               # becomes ExifIFD in _append_exif
        (50706, BYTE, 4, (1, 4, 0, 0), True),                # DNGVersion
        (50707, BYTE, 4, (1, 1, 0, 0), True),                # DNGBackwardVersion
        (50708, ASCII, 0, f"{meta.make} {meta.model}", True),  # UniqueCameraModel
        (50710, BYTE, 3, (0, 1, 2), True),                   # CFAPlaneColor
        (50711, SHORT, 1, 1, True),                          # CFALayout: rectangular
        (50713, SHORT, 2, (1, 1), True),                     # BlackLevelRepeatDim
        (50714, LONG, 1, BLACK_LEVEL, True),                 # BlackLevel
        (50717, LONG, 1, WHITE_LEVEL, True),                 # WhiteLevel
        (50721, SRATIONAL, 9, _rationals(CAMERA_XYZ_TO_CAM), True),  # ColorMatrix1
        (50728, RATIONAL, 3, _rationals(AS_SHOT_NEUTRAL), True),     # AsShotNeutral
        (50778, SHORT, 1, ILLUMINANT_D65, True),             # CalibrationIlluminant1
    ]
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")   # same folder: atomic rename
    try:
        with tifffile.TiffWriter(tmp, byteorder="<", bigtiff=False) as tiff:
            tiff.write(_mosaic(scene), photometric=32803, subfiletype=0, metadata=None, software=False,
                       datetime=meta.capture_time.strftime("%Y:%m:%d %H:%M:%S"),
                       extratags=[(271, ASCII, 0, meta.make, True), (272, ASCII, 0, meta.model, True)] + tags
                       + ([(50735, ASCII, 0, meta.serial, True)] if meta.serial else []))
        _append_exif(tmp, meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
