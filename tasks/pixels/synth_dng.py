"""Synthetic DNG files: scene-referred linear sRGB in, a raw file LibRaw decodes faithfully out.

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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np
import tifffile

from tasks.pixels import colourchecker
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
                       extratags=[(271, ASCII, 0, meta.make, True), (272, ASCII, 0, meta.model, True)] + tags)
        _append_exif(tmp, meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --- ColorChecker Classic ---------------------------------------------------------------------
CHART_COLUMNS, CHART_ROWS = 6, 4
CHART_BACKGROUND = 0.02          # dark grey surround, linear
PATCH_GAP = 0.12                 # gap between patches as a fraction of the cell size
MEASURE_FRACTION = 0.6           # chart_patch_boxes: inner 60% of each patch


def colour_chart_linear_srgb() -> tuple[np.ndarray, list[str]]:
    """(24x3 float32 linear sRGB D65 values, names) of the ColorChecker's patches (``tasks.pixels.colourchecker``).
    Out-of-gamut components (e.g. cyan's red) stay slightly negative."""
    return colourchecker.reference("srgb").astype(np.float32), list(colourchecker.patch_names())


def _chart_cells(width: int, height: int, border: float):
    """Yield (x0, y0, x1, y1) float patch rectangles, row-major from the top-left (dark skin)."""
    bx, by = border * width, border * height
    cw, ch = (width - 2 * bx) / CHART_COLUMNS, (height - 2 * by) / CHART_ROWS
    gap = PATCH_GAP * min(cw, ch) / 2
    for i in range(CHART_ROWS * CHART_COLUMNS):
        r, c = divmod(i, CHART_COLUMNS)
        yield bx + c * cw + gap, by + r * ch + gap, bx + (c + 1) * cw - gap, by + (r + 1) * ch - gap


def chart_patch_boxes(width: int, height: int, *, border: float = 0.02) -> list[tuple[int, int, int, int]]:
    """Integer (x0, y0, x1, y1) boxes of the inner MEASURE_FRACTION of each patch (for measuring)."""
    shrink = (1 - MEASURE_FRACTION) / 2
    return [(round(x0 + shrink * (x1 - x0)), round(y0 + shrink * (y1 - y0)),
             round(x1 - shrink * (x1 - x0)), round(y1 - shrink * (y1 - y0)))
            for x0, y0, x1, y1 in _chart_cells(width, height, border)]


def render_chart(width: int, height: int, *, border: float = 0.02) -> np.ndarray:
    """The 24 patches as a 6x4 grid on dark grey, float32 HxWx3 linear sRGB (negatives clipped)."""
    img = np.full((height, width, 3), CHART_BACKGROUND, np.float32)
    values = np.clip(colour_chart_linear_srgb()[0], 0.0, None)
    for value, (x0, y0, x1, y1) in zip(values, _chart_cells(width, height, border)):
        img[round(y0):round(y1), round(x0):round(x1)] = value
    return img


# --- synthetic scenes -------------------------------------------------------------------------
# Scenes are built planar (3 x H x W: channel-first broadcasting is fast), interleaved at the end.
SCENE_KINDS = ("portrait", "landscape", "interior", "highkey")
GRAIN = 0.012                    # relative per-pixel luminance grain (sensor-noise-like texture)


def _rgb(r: float, g: float, b: float) -> np.ndarray:
    return np.array([r, g, b], np.float32)[:, None, None]


def _value_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise in [-1, 1]: a random lattice every `cell` pixels, bilinearly interpolated."""
    lattice = rng.uniform(-1, 1, (int(h / cell) + 2, int(w / cell) + 2)).astype(np.float32)
    y, x = np.arange(h, dtype=np.float32) / cell, np.arange(w, dtype=np.float32) / cell
    iy, ix = y.astype(np.intp), x.astype(np.intp)
    fy, fx = (y - iy.astype(np.float32))[:, None], x - ix.astype(np.float32)
    rows = lattice[:, ix] * (1 - fx) + lattice[:, ix + 1] * fx      # along x on the lattice rows
    return rows[iy] * (1 - fy) + rows[iy + 1] * fy


def _ellipse(x, y, cx, cy, rx, ry, soft=0.08) -> np.ndarray:
    """Soft-edged ellipse mask in [0, 1] (1 inside), evaluated only in its bounding box; `soft` is
    the edge width relative to the radius. x is 1xW, y is Hx1 (normalised coordinates)."""
    mask = np.zeros((y.shape[0], x.shape[1]), np.float32)
    reach = 1 + soft
    y0, y1 = np.searchsorted(y[:, 0], [cy - ry * reach, cy + ry * reach])
    x0, x1 = np.searchsorted(x[0], [cx - rx * reach, cx + rx * reach])
    r = np.sqrt(((x[:, x0:x1] - cx) / rx) ** 2 + ((y[y0:y1] - cy) / ry) ** 2)
    mask[y0:y1, x0:x1] = np.clip((1 + soft - r) / (2 * soft), 0, 1)
    return mask


def _box(x, y, x0, y0, x1, y1) -> np.ndarray:
    return ((x >= x0) & (x < x1) & (y >= y0) & (y < y1)).astype(np.float32)


def _paint(img, mask, colour, shade=1.0) -> None:
    """Composite `colour` (x `shade`) over planar `img` in place where `mask` > 0 (bounding box only)."""
    mask = np.broadcast_to(mask, img.shape[1:])
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return
    box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    shade = np.broadcast_to(np.asarray(shade, np.float32), mask.shape)[box]
    img[(slice(None), *box)] += mask[box] * (colour * shade - img[(slice(None), *box)])


def _portrait(x, y, n, aspect):
    key = 0.55 + 0.45 * (1 - x)                               # key light from the left
    img = _rgb(0.10, 0.14, 0.16) * (key * (0.85 + 0.15 * n))
    _paint(img, _ellipse(x, y, 0.5, 1.05, 0.32 / aspect, 0.35), _rgb(0.06, 0.07, 0.12), key)   # shoulders
    _paint(img, _ellipse(x, y, 0.5, 0.40, 0.17 / aspect, 0.27), _rgb(0.045, 0.03, 0.02), key)  # hair
    fx, fy = (x - 0.5) * aspect / 0.15, (y - 0.47) / 0.23
    relief = np.sqrt(np.clip(1 - fx ** 2 - fy ** 2, 0, 1))    # sphere normal z, lit from upper left
    light = np.clip(0.35 + 0.65 * (relief - 0.5 * fx - 0.2 * fy) / 1.2, 0.1, 1.1)
    _paint(img, _ellipse(x, y, 0.5, 0.47, 0.15 / aspect, 0.23), _rgb(0.56, 0.28, 0.21), light)  # face
    for side in (-1, 1):                                      # eyes
        eye = _ellipse(x, y, 0.5 + side * 0.05 / aspect, 0.44, 0.022 / aspect, 0.012)
        _paint(img, eye, _rgb(0.02, 0.015, 0.015))
    _paint(img, _ellipse(x, y, 0.5, 0.58, 0.04 / aspect, 0.012), _rgb(0.25, 0.06, 0.06), light)  # lips
    return img


def _landscape(x, y, n, aspect):
    horizon = 0.55 + 0.04 * np.sin(x * 7.0 + 1.0) + 0.02 * n[:1]
    t = np.clip(y / 0.6, 0, 1)                                # zenith blue -> pale horizon
    sky = _rgb(0.10, 0.22, 0.55) * (1 - t) + _rgb(0.55, 0.65, 0.80) * t
    cloud = np.clip(n * 2.0 - 0.3, 0, 1) * 0.5
    sky = sky * (1 - cloud) + 0.85 * cloud
    depth = np.clip((y - horizon) / (1.0 - horizon), 0, 1)  # 0 at the horizon, 1 at the bottom
    haze = 0.25 * np.exp(-6 * depth)
    ground = _rgb(0.9, 1.3, 0.45) * ((0.06 + 0.05 * n) * (0.7 + 0.6 * depth) * (1 - haze)) + 0.5 * haze
    return np.where(y > horizon, ground, sky)


def _interior(x, y, n, aspect):
    window_light = np.clip(1.1 - np.hypot((x - 0.72) * aspect, y - 0.35) * 0.9, 0.25, 1)
    img = _rgb(0.42, 0.36, 0.28) * (window_light * (0.95 + 0.05 * n))                   # wall
    planks = 0.8 + 0.2 * np.sin(x * 90 + 3 * n)
    _paint(img, (y > 0.72).astype(np.float32), _rgb(0.20, 0.11, 0.05), planks * window_light)  # floor
    _paint(img, _box(x, y, 0.60, 0.12, 0.86, 0.55), _rgb(0.80, 0.88, 0.98), 1 + 0.05 * n)    # window
    mullions = _box(x, y, 0.725, 0.12, 0.735, 0.55) + _box(x, y, 0.60, 0.33, 0.86, 0.34)
    _paint(img, mullions, _rgb(0.15, 0.15, 0.14))
    _paint(img, _box(x, y, 0.15, 0.55, 0.50, 0.58) + _box(x, y, 0.18, 0.58, 0.20, 0.80)
           + _box(x, y, 0.45, 0.58, 0.47, 0.80), _rgb(0.12, 0.06, 0.03), window_light)       # table
    _paint(img, _ellipse(x, y, 0.25, 0.48, 0.03 / aspect, 0.07), _rgb(0.45, 0.05, 0.04), window_light)  # vase
    plant = _ellipse(x, y, 0.38, 0.45, 0.06 / aspect, 0.10, soft=0.3)
    _paint(img, plant, _rgb(0.05, 0.16, 0.04), window_light)
    return img


def _highkey(x, y, n, aspect):
    img = np.full((3,) + n.shape, 1.6, np.float32)            # blown-out, backlit background
    texture = 0.9 + 0.1 * n
    _paint(img, _ellipse(x, y, 0.5, 1.0, 0.30 / aspect, 0.40), _rgb(0.70, 0.66, 0.62), texture)  # figure
    _paint(img, _ellipse(x, y, 0.5, 0.45, 0.13 / aspect, 0.20), _rgb(0.75, 0.45, 0.36), texture)  # head
    return img


_SCENES = {"portrait": _portrait, "landscape": _landscape, "interior": _interior, "highkey": _highkey}


def render_scene(kind: str, width: int, height: int, *, seed: int = 0) -> np.ndarray:
    """A deterministic photographic-looking scene, float32 HxWx3 linear sRGB in [0, 1]."""
    if kind not in _SCENES:
        raise ValueError(f"unknown scene kind {kind!r}; allowed: {', '.join(SCENE_KINDS)}")
    rng = np.random.default_rng([seed, SCENE_KINDS.index(kind)])
    size = max(width, height)
    n = 0.7 * _value_noise(rng, height, width, size / 8) + 0.3 * _value_noise(rng, height, width, size / 40)
    y = (np.arange(height, dtype=np.float32) / height)[:, None]
    x = (np.arange(width, dtype=np.float32) / width)[None, :]
    planar = _SCENES[kind](x, y, n, np.float32(width / height))
    grain = rng.standard_normal((height, width), dtype=np.float32)
    grain *= GRAIN
    grain += 1
    img = np.empty((height, width, 3), np.float32)
    for c in range(3):
        np.multiply(planar[c], grain, out=img[..., c])
    return np.clip(img, 0.0, 1.0, out=img)


SHOT_INTERVAL_S = 3
# The demo camera's colour error, as a real sensor's profile has one: channels leak into each other (rows sum
# to 1, so greys stay grey). Session calibration on the demo's chart frame measures and removes it.
DEMO_CROSSTALK = np.array([[0.90, 0.12, -0.02],
                           [0.05, 0.88, 0.07],
                           [-0.02, 0.14, 0.88]], np.float32)


def make_demo_shoot(folder, *, width: int = 1200, height: int = 800) -> list[Path]:
    """Write DSC_0001.dng.. into `folder`: chart, portrait, portrait shot upright (orientation 6),
    landscape, interior, highkey; capture times a few seconds apart. Returns the paths in order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shots = [  # (scene kind or "chart", seed, meta overrides)
        ("chart", 0, dict(exposure_time=1 / 60, f_number=8.0)),
        ("portrait", 1, dict(iso=200, f_number=2.8, focal_length=85.0)),
        ("portrait", 2, dict(iso=200, f_number=2.8, focal_length=85.0, orientation=6)),
        ("landscape", 3, dict(iso=64, exposure_time=1 / 250, f_number=11.0, focal_length=24.0)),
        ("interior", 4, dict(iso=1600, exposure_time=1 / 30, f_number=4.0, focal_length=35.0)),
        ("highkey", 5, dict(exposure_time=1 / 60)),
    ]
    start, paths = DngMeta().capture_time, []
    for i, (kind, seed, overrides) in enumerate(shots):
        meta = replace(DngMeta(), capture_time=start + timedelta(seconds=SHOT_INTERVAL_S * i), **overrides)
        if kind == "chart":
            scene = render_chart(width, height)
        elif meta.orientation == 6:  # camera held upright: the sensor sees the view turned 90 deg CCW
            scene = np.rot90(render_scene(kind, height, width, seed=seed))
        else:
            scene = render_scene(kind, width, height, seed=seed)
        scene = np.clip(scene @ DEMO_CROSSTALK.T, 0.0, None)
        paths.append(write_dng(folder / f"DSC_{i + 1:04d}.dng", scene, meta))
    return paths
