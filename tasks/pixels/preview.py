"""A small picture of a photo, quickly: what the cull measures (``tasks.pixels.cull``). Display sRGB-encoded
float32 [0, 1], HxWx3, as the photo is viewed (camera orientation applied), long edge at most ``long_edge``.

Where it comes from, cheapest first:

- ``preview``: the JPEG the camera embedded in the RAW file, when it is large enough (cameras of the last
  fifteen years embed one of 1600 px to full size) and of the photo's shape; decoded at a reduced scale
  (JPEG's DCT scaling, Pillow's ``draft``);
- ``sensor``: the RAW's sensor data, each 2x2 Bayer quad taken as one RGB pixel (camera white balance, the
  sensor's black and white levels, no colour matrix: a rough rendering, enough to measure), then reduced.
  Hand-written for a measured reason: on a 24 MP DNG it takes 0.12 s (open, unpack, quads, reduce) where
  LibRaw's own ``half_size`` output takes 0.27-0.48 s, and the cull's whole budget is a tenth of a grade.
  A sensor that is not a 2x2 Bayer one (X-Trans, Foveon, non-square pixels) goes through LibRaw's half size;
- ``image``: a JPEG (decoded at a reduced scale) or a TIFF (decoded, then reduced).

Pure: files in, arrays out; no Prefect, no record."""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np
import rawpy
from PIL import Image, ImageOps

from tasks.errors import PhotoError
from tasks.pixels.colour import working_to_display
from tasks.pixels.decode import decode_raster
from tasks.pixels.metadata import PhotoKind, kind_of

MIN_PREVIEW_SHARE = 0.75   # an embedded preview smaller than this share of the wanted long edge is not used
MAX_ASPECT_ERROR = 0.02    # nor one whose shape differs from the photo's by more than this (letterboxed)


class PreviewSource(StrEnum):
    PREVIEW = "preview"   # the camera's embedded JPEG
    SENSOR = "sensor"     # a reduced decode of the RAW's sensor data
    IMAGE = "image"       # a JPEG or TIFF, reduced


@dataclass(frozen=True)
class Preview:
    image: np.ndarray          # HxWx3 float32, display sRGB-encoded [0, 1]
    source: PreviewSource


def reduce(image: np.ndarray, long_edge: int, dtype: type | None = np.float32) -> np.ndarray:
    """``image`` shrunk (area average) so that its long edge is at most ``long_edge``; as ``dtype`` (None: as
    it is). A whole factor is taken first (OpenCV's area average is ten times faster at one: 3000x2000 to
    1500x1000 in 1 ms, to 1536x1024 in 12), then what is left, on the smaller picture."""
    if dtype is not None:
        image = image.astype(dtype, copy=False)
    height, width = image.shape[:2]
    factor = max(height, width) // long_edge
    if factor >= 2:
        height, width = height // factor, width // factor
        image = cv2.resize(image[:height * factor, :width * factor], (width, height), interpolation=cv2.INTER_AREA)
    scale = long_edge / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _flipped(image: np.ndarray, flip: int) -> np.ndarray:
    """LibRaw's ``sizes.flip`` applied (0 none, 3 half turn, 5 a quarter turn anticlockwise, 6 clockwise)."""
    if flip == 3:
        return image[::-1, ::-1]
    if flip == 5:
        return np.rot90(image, 1)
    if flip == 6:
        return np.rot90(image, -1)
    return image


def _jpeg(data: bytes | Path, long_edge: int, *, transpose: bool) -> np.ndarray:
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as img:
        # DCT scaling: decoded at 1/2, 1/4 or 1/8 of its size, the smallest whose long edge is still at least
        # MIN_PREVIEW_SHARE of the one asked for (a 6000x4000 preview: 1500x1000 for 1500)
        scale = MIN_PREVIEW_SHARE * long_edge / max(img.size)
        img.draft("RGB", (max(1, int(img.size[0] * scale)), max(1, int(img.size[1] * scale))))
        if transpose:
            img = ImageOps.exif_transpose(img)
        rgb = np.asarray(img.convert("RGB"), np.float32) * (1.0 / 255.0)
    return reduce(rgb, long_edge)


def _embedded(raw: rawpy.RawPy, long_edge: int) -> np.ndarray | None:
    """The camera's embedded JPEG preview, if it is large enough and of the photo's shape; else None."""
    sizes = raw.sizes
    if abs(sizes.pixel_aspect - 1) > 0.005:
        return None
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    if thumb.format is not rawpy.ThumbFormat.JPEG:
        return None                               # a bitmap thumbnail: always a small one
    try:
        with Image.open(io.BytesIO(thumb.data)) as img:
            width, height = img.size
        wanted = min(long_edge, max(sizes.width, sizes.height))
        if max(width, height) < MIN_PREVIEW_SHARE * wanted:
            return None
        if abs(width / height - sizes.width / sizes.height) > MAX_ASPECT_ERROR * sizes.width / sizes.height:
            return None
        return _flipped(_jpeg(thumb.data, long_edge, transpose=False), sizes.flip)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None                               # a broken preview (in memory): the sensor data instead


def _bayer_quads(raw: rawpy.RawPy, long_edge: int) -> np.ndarray | None:
    """The 2x2 quads of a Bayer sensor as linear RGB pixels (one green of the two), reduced to ``long_edge``,
    white balanced, 1.0 = sensor white; None for any other sensor. Each colour's sites are reduced while still
    16-bit integers: the float maths then runs on the small planes."""
    pattern = raw.raw_pattern
    if pattern is None or pattern.shape != (2, 2) or raw.num_colors != 3 or abs(raw.sizes.pixel_aspect - 1) > 0.005:
        return None
    desc = raw.color_desc.decode("ascii", "replace")
    channels = [int(c) for c in pattern.ravel()]
    colours = [desc[c] if c < len(desc) else "?" for c in channels]
    if sorted(colours) != ["B", "G", "G", "R"]:
        return None
    mosaic = raw.raw_image_visible
    height, width = (mosaic.shape[0] // 2) * 2, (mosaic.shape[1] // 2) * 2
    wb = np.asarray(raw.camera_whitebalance, np.float64)
    if not wb[:3].all():
        wb = np.asarray(raw.daylight_whitebalance, np.float64)
    if not wb[:3].all():
        wb = np.ones(4)
    black = np.asarray(raw.black_level_per_channel, np.float64)
    white = float(raw.white_level)
    planes = {}
    for index, colour in enumerate(colours):
        if colour in planes:
            continue                                # the second green
        dy, dx = divmod(index, 2)
        channel = min(channels[index], 3)
        site = reduce(np.ascontiguousarray(mosaic[dy:height:2, dx:width:2]), long_edge, dtype=None)
        gain = wb[channel] / wb[1] / max(1.0, white - black[channel])
        planes[colour] = (site.astype(np.float32) - np.float32(black[channel])) * np.float32(gain)
    return np.clip(np.dstack([planes["R"], planes["G"], planes["B"]]), 0.0, 1.0)


def _sensor(raw: rawpy.RawPy, long_edge: int) -> np.ndarray:
    linear = _bayer_quads(raw, long_edge)
    if linear is None:                           # not a 2x2 Bayer sensor: LibRaw's half size does it
        rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8, no_auto_bright=True)
        return reduce(rgb.astype(np.float32) * (1.0 / 255.0), long_edge)
    display = np.power(linear, np.float32(1 / 2.2), dtype=np.float32)
    return np.ascontiguousarray(_flipped(display, raw.sizes.flip))


def analysis_image(path: Path, long_edge: int) -> Preview:
    """The photo at ``path`` as a small display image (see the module's docstring). Raises
    :class:`tasks.errors.PhotoError` when the file cannot be decoded; a failure of the machine (OSError) is
    raised as is."""
    path = Path(path)
    kind = kind_of(path)
    if kind is PhotoKind.RAW:
        try:
            with rawpy.imread(str(path)) as raw:
                embedded = _embedded(raw, long_edge)
                if embedded is not None:
                    return Preview(np.ascontiguousarray(embedded), PreviewSource.PREVIEW)
                return Preview(_sensor(raw, long_edge), PreviewSource.SENSOR)
        except (rawpy.LibRawError, ValueError) as exc:
            raise PhotoError(f"{path.name}: LibRaw cannot decode this RAW file ({type(exc).__name__}).") from exc
    if kind is PhotoKind.JPEG:
        try:
            return Preview(_jpeg(path, long_edge, transpose=True), PreviewSource.IMAGE)
        except (ValueError, Image.DecompressionBombError) as exc:
            raise PhotoError(f"{path.name}: cannot decode this JPEG ({type(exc).__name__}).") from exc
    if kind is PhotoKind.TIFF:
        return Preview(reduce(working_to_display(decode_raster(path)), long_edge), PreviewSource.IMAGE)
    raise PhotoError(f"{path.name}: not a photo type postline reads (RAW, JPEG or TIFF).")
