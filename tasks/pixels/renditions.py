"""Every rendition of one finished photo from one decode of its master, in one pass.

Colour space in: the master's display values (sRGB-encoded, sRGB primaries, float32 in [0, 1], HxWx3, as
``imageio.read_working_tiff`` gives them). Out: encoded files (JPEG or TIFF bytes) in each rendition's colour
space with its ICC profile embedded; the metadata is stamped afterwards (tasks/pixels/tags.py).

Per rendition: crop (to 1:1, 4:5 or 16:9 around its anchor) -> resize (area averaging, never enlarged) ->
colour space (linear-light 3x3 matrix, :mod:`tasks.pixels.output`) -> output sharpening at the output size (an
unsharp mask on luma) -> watermark -> 8 or 16 bits -> JPEG or TIFF.

What one pass shares: the decode of the 16-bit master and its conversion to float (the bulk of the time for
small renditions), and the sizes already made: renditions are made largest first, and each is resized from
the smallest image already made that still has at least its pixels (the web size gives the social crop and
the proof, not the 24 MP master), with the faces found once for every crop anchored on them."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageDraw, ImageFont

from presets.recipe import Anchor, FileFormat, Placement, Rendition
from presets.model import OutputSpace
from tasks.pixels import fonts, kernels, mono, output
from tasks.pixels.colour import SRGB_LUMA, conversion, srgb_decode_table
from tasks.pixels.faces import FaceParams
from tasks.pixels.imageio import bands
from tasks.pixels.layout import face_centre

# Where a crop's faces are: frontal faces of at least 8% of the short edge on a copy 480 px long, a tenth of the
# detector's default time (profiles both ways, 5%, 800 px); a crop needs only their centre, and none found crops
# the middle.
FACES = FaceParams(detect_long_edge=480, profiles=False, min_face_fraction=0.08)

# A TIFF rendition's compression, as tifffile writes it: both lossless with the horizontal predictor (TIFF 6.0,
# read by Photoshop, Lightroom, libtiff and print labs' RIPs), about half the size of an uncompressed TIFF on the
# real camera files of ../shared/samples (0.50-0.66 for LZW, 0.47-0.59 for Deflate, 8 bits; at 16 bits the codes'
# low bits are noise: Deflate about 0.8, LZW no smaller).
COMPRESSION = {"none": {},
               "lzw": {"compression": "lzw", "predictor": True},
               "deflate": {"compression": "zlib", "compressionargs": {"level": 6}, "predictor": True}}


@dataclass(frozen=True)
class Made:
    """One rendition, encoded: its file's bytes, pixel size and colour space."""
    rendition: Rendition
    data: bytes
    size: tuple[int, int]
    space: OutputSpace


def crop_box(width: int, height: int, ratio: float | None, anchor: Anchor,
             faces: tuple[float, float] | None = None) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the largest ``ratio`` (width/height) crop of a width x height photo, placed at its
    anchor (faces: centred on ``faces``, the faces' centre, or the middle without one); the whole photo when
    ``ratio`` is None."""
    if ratio is None:
        return 0.0, 0.0, float(width), float(height)
    crop_w, crop_h = (height * ratio, float(height)) if width / height > ratio else (float(width), width / ratio)
    cx, cy = width / 2, height / 2
    if anchor is Anchor.FACES and faces is not None:
        cx, cy = faces
    elif anchor is Anchor.TOP:
        cy = 0.0
    elif anchor is Anchor.BOTTOM:
        cy = float(height)
    elif anchor is Anchor.LEFT:
        cx = 0.0
    elif anchor is Anchor.RIGHT:
        cx = float(width)
    x0 = float(np.clip(cx - crop_w / 2, 0, width - crop_w))
    y0 = float(np.clip(cy - crop_h / 2, 0, height - crop_h))
    return x0, y0, x0 + crop_w, y0 + crop_h


def out_size(box: tuple[float, float, float, float], ratio: float | None, long_edge: int | None) -> tuple[int, int]:
    """The rendition's pixel size: the crop's, brought down to ``long_edge`` (never up), aspect kept exactly."""
    w, h = box[2] - box[0], box[3] - box[1]
    longest = max(w, h) if long_edge is None else min(long_edge, max(w, h))
    scale = longest / max(w, h)
    if ratio is None:
        return max(1, round(w * scale)), max(1, round(h * scale))
    if ratio >= 1:
        width = max(1, round(longest))
        return width, max(1, round(width / ratio))
    height = max(1, round(longest))
    return max(1, round(height * ratio)), height


def to_space(display: np.ndarray, space: OutputSpace, *, codes: np.ndarray | None = None) -> np.ndarray:
    """Display (sRGB-encoded) values in [0, 1] -> ``space``'s encoded values in [0, 1] (linear-light 3x3 matrix
    from the primaries, then the space's transfer curve, as :mod:`tasks.pixels.output`). sRGB: ``display``
    itself (area and linear resampling keep values in [0, 1]). ``codes``: the same pixels as the master's 16-bit
    codes, when the caller has them (a full-size rendition), which saves quantising ``display`` again.
    Another space: one new array and no full-size temporaries: the table is looked up band by band
    (``imageio.bands``), the matrix and the curve applied in place on the whole. Not the matrix and the curve by
    bands: OpenCV's give the last bit of the last pixels of a call otherwise than of the others."""
    if space is OutputSpace.SRGB:
        return display
    out = np.empty(display.shape, np.float32)
    for rows in bands(display.shape[0]):
        if codes is None:
            band_codes = np.empty(display[rows].shape, np.uint16)
            np.add(display[rows] * 65535.0, 0.5, out=band_codes, casting="unsafe")    # the nearest 16-bit code
        else:
            band_codes = codes[rows]
        kernels.look_up(srgb_decode_table(), band_codes, out[rows])                      # linear light
    cv2.transform(out, conversion("srgb", space.value), dst=out)
    np.clip(out, 0.0, 1.0, out=out)
    if space is OutputSpace.ADOBE_RGB:
        return cv2.pow(out, 1.0 / output.ADOBE_GAMMA, dst=out)
    toe = out <= 0.0031308                                 # Display P3: the sRGB curve (output.encode)
    low = out[toe] * 12.92
    cv2.pow(out, 1.0 / 2.4, dst=out)
    out *= 1.055
    out -= 0.055
    out[toe] = low
    return out


def sharpen_luma(image: np.ndarray, amount: float, radius: float, *, in_place: bool = False) -> np.ndarray:
    """Output sharpening: an unsharp mask on luma (``amount`` %, Gaussian ``radius`` px) added to every channel,
    as raw converters sharpen, so edges gain no colour fringes; a third of the blurring of an RGB mask
    (:mod:`tasks.pixels.sharpen`). Float32 in [0, 1] in and out; ``in_place``: into ``image`` itself (the
    caller's own array, not one it shares), the full-size peak of a print rendition two arrays lower."""
    luma = cv2.transform(image, SRGB_LUMA.reshape(1, 3))
    detail = cv2.subtract(luma, cv2.GaussianBlur(luma, (0, 0), radius), dst=luma)
    detail *= amount / 100.0
    return kernels.add_clipped(image, detail, out=image if in_place else None)


def _font(size: int) -> ImageFont.FreeTypeFont:
    return fonts.font(size)


def watermark(image: np.ndarray, text: str, *, opacity: float, size: float, position: Placement) -> np.ndarray:
    """``text`` in white over ``image`` (float32 [0, 1], any encoding), ``size`` its height as a share of the
    short edge, at ``opacity``; a thin dark outline keeps it readable on white."""
    height, width = image.shape[:2]
    font = _font(int(round(min(width, height) * size)))
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    while x1 - x0 > width * 0.9 and font.size > 8:          # a long text on a narrow photo: smaller
        font = _font(int(font.size * 0.85))
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    margin = int(min(width, height) * 0.03)
    if position is Placement.CENTRE:
        at = ((width - (x1 - x0)) / 2 - x0, (height - (y1 - y0)) / 2 - y0)
    else:
        at = (width - (x1 - x0) - margin - x0, height - (y1 - y0) - margin - y0)
    ring = Image.new("L", (width, height), 0)
    ImageDraw.Draw(ring).text(at, text, font=font, fill=255, stroke_width=max(1, font.size // 25), stroke_fill=255)
    draw.text(at, text, font=font, fill=255)
    fill = np.asarray(mask, np.float32)[..., None] / 255.0
    edge = np.clip(np.asarray(ring, np.float32)[..., None] / 255.0 - fill, 0.0, 1.0)
    out = image * (1.0 - edge * opacity * 0.6)             # a faint dark edge, so it reads on white
    out = out * (1.0 - fill * opacity) + fill * opacity
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def encode(pixels: np.ndarray, rendition: Rendition, space: OutputSpace) -> bytes:
    """Encoded values in [0, 1] -> the rendition's file bytes, with ``space``'s ICC profile and its dpi. JPEGs
    keep libjpeg's standard Huffman tables: optimised ones made a real 24 MP photo 1% smaller and its encoding
    60% slower (0.27 s -> 0.44 s, measured here)."""
    buffer = io.BytesIO()
    icc = output.icc_profile(space)
    if rendition.format is FileFormat.JPEG:
        rgb8 = cv2.convertScaleAbs(pixels, alpha=255.0)          # rounds and saturates, in one pass
        Image.fromarray(rgb8, "RGB").save(buffer, "JPEG", quality=rendition.quality, icc_profile=icc,
                                          optimize=False, subsampling=0 if rendition.quality >= 95 else 2,
                                          dpi=(rendition.dpi, rendition.dpi))
    else:
        if rendition.bit_depth == 8:
            codes = cv2.convertScaleAbs(pixels, alpha=255.0)
        else:
            codes = np.empty(pixels.shape, np.uint16)
            for rows in bands(pixels.shape[0]):
                np.add(pixels[rows] * 65535.0, 0.5, out=codes[rows], casting="unsafe")
        tifffile.imwrite(buffer, codes, photometric="rgb", **COMPRESSION[rendition.tiff_compression],
                         iccprofile=icc, resolution=(rendition.dpi, rendition.dpi), resolutionunit="INCH",
                         metadata=None)
    return buffer.getvalue()


def make_all(display: np.ndarray, renditions: Sequence[Rendition], *, fields: dict[str, str] | None = None,
             codes: np.ndarray | None = None, look: mono.Look = mono.Look()) -> list[Made]:
    """Every rendition of ``display`` (the decoded master, values in [0, 1]), in the order given. ``renditions``
    carry a resolved colour space (an :class:`OutputSpace`, not "preset"); ``fields`` fill a watermark's
    {studio}, {client}, {order}; ``codes``: the master's 16-bit codes, if the caller has them. Black-and-white
    renditions (``black_and_white``) are made from one black-and-white copy of the photo (``look``:
    tasks/pixels/mono.py), made once the colour ones are done, their crops on the faces of the colour photo."""
    if display.ndim != 3 or display.shape[2] != 3 or display.dtype != np.float32:
        raise ValueError(f"expected an HxWx3 float32 display image, got {display.dtype} {display.shape}")
    height, width = display.shape[:2]
    faces = None
    if any(r.anchor is Anchor.FACES and r.aspect.ratio is not None for r in renditions):
        faces = _faces(display)
    plans = []
    for index, rendition in enumerate(renditions):
        box = crop_box(width, height, rendition.aspect.ratio, rendition.anchor, faces)
        plans.append((index, rendition, box, out_size(box, rendition.aspect.ratio, rendition.long_edge)))
    made: dict[int, Made] = {}
    _make_from(display, codes, [p for p in plans if not p[1].black_and_white], fields or {}, made)
    grey_plans = [p for p in plans if p[1].black_and_white]
    if grey_plans:
        _make_from(mono.grey(display, look, codes=codes), None, grey_plans, fields or {}, made)
    return [made[i] for i in range(len(renditions))]


def _make_from(image: np.ndarray, codes: np.ndarray | None, plans: list, fields: dict[str, str],
               made: dict[int, Made]) -> None:
    """The renditions of ``plans`` (index, rendition, crop box, size) from ``image``, into ``made``: largest first,
    each resized from the smallest whole-frame image already made that still has its pixels."""
    height, width = image.shape[:2]
    levels: list[np.ndarray] = [image]          # whole-frame images made so far, largest first
    for index, rendition, box, size in sorted(plans, key=lambda p: -p[3][0] * p[3][1]):
        pixels = _resized(levels, box, size, width)
        if rendition.aspect.ratio is None and size != (width, height):
            levels.append(pixels)
        made[index] = _finish(pixels, rendition, size, fields, codes if pixels is image else None)


def _faces(display: np.ndarray) -> tuple[float, float] | None:
    """The faces' centre in master pixels, found on a copy of the detector's size."""
    height, width = display.shape[:2]
    scale = min(1.0, FACES.detect_long_edge / max(height, width))
    small = display if scale == 1 else cv2.resize(display, (max(1, round(width * scale)), max(1, round(height * scale))),
                                                  interpolation=cv2.INTER_AREA)
    centre = face_centre(small, FACES)
    return None if centre is None else (centre[0] / scale, centre[1] / scale)


def _resized(levels: list[np.ndarray], box: tuple[float, float, float, float], size: tuple[int, int],
             full_width: int) -> np.ndarray:
    """The crop ``box`` (master pixels) at ``size``, from the smallest level that has at least its pixels (the
    master itself when none has: a crop's rounding may leave it a pixel short of its output size)."""
    for level in [*reversed(levels[1:]), levels[0]]:
        scale = level.shape[1] / full_width
        width, height = round((box[2] - box[0]) * scale), round((box[3] - box[1]) * scale)
        if (width < size[0] or height < size[1]) and level is not levels[0]:
            continue
        x0 = min(max(0, round(box[0] * scale)), level.shape[1] - width)
        y0 = min(max(0, round(box[1] * scale)), level.shape[0] - height)
        if (x0, y0, width, height) == (0, 0, *level.shape[1::-1]) and (width, height) == size:
            return level                                      # the whole level, as it is
        region = level[y0:y0 + height, x0:x0 + width]
        if region.shape[1::-1] == size:
            return region
        return cv2.resize(region, size, interpolation=cv2.INTER_AREA if width >= size[0] else cv2.INTER_LINEAR)
    raise AssertionError("unreachable: the master is the last level tried")


def _finish(pixels: np.ndarray, rendition: Rendition, size: tuple[int, int], fields: dict[str, str],
            codes: np.ndarray | None) -> Made:
    space = rendition.colour_space
    if not isinstance(space, OutputSpace):
        raise ValueError(f"rendition {rendition.key!r}: resolve its colour space ({space!r}) before rendering")
    pixels = np.ascontiguousarray(pixels)
    encoded = to_space(pixels, space, codes=codes)
    if rendition.sharpen:    # into a converted copy in place; never into ``pixels``, which later renditions share
        encoded = sharpen_luma(encoded, rendition.sharpen, rendition.sharpen_radius, in_place=encoded is not pixels)
    if rendition.watermark is not None:
        mark = rendition.watermark
        text = mark.text.format_map({"studio": "", "client": "", "order": "", **fields})
        encoded = watermark(encoded, text, opacity=mark.opacity, size=mark.size, position=mark.position)
    return Made(rendition, encode(np.ascontiguousarray(encoded), rendition, space), size, space)
