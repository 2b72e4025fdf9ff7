"""Decode a photo into the working space: linear Rec.2020, as the photo is viewed (camera
orientation applied). RAW through LibRaw (rawpy); JPEG/TIFF through Pillow.
``decode_linear16`` gives LibRaw's 16-bit output as is (the fast grading path); ``decode`` gives
float32 in [0, 1]. Errors name the file and say what to do.

White balance in Kelvin: the light's chromaticity comes from the Planckian locus in CIE 1960 uv (colour-science,
Ohno 2013) moved off it by the tint (about 3e-4 Duv per unit; as in Lightroom, + takes the light as greener, so
the picture comes out more magenta; D65 is about 6500 K, tint +10); the camera's response to that white comes from
its colour matrix (LibRaw's ``rgb_xyz_matrix``, or for DNGs its ``color_matrix`` with the daylight multipliers). For a camera
LibRaw knows no matrix for, the camera's primaries are taken to be sRGB's (an approximation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rawpy
from PIL import Image, ImageOps

from presets.model import DecodeParams, Demosaic, HighlightMode, NoiseReduction, WhiteBalance
from tasks.errors import PhotoError
from tasks.pixels.colour import display_to_working, rgb_to_xyz, science
from tasks.pixels.memory import keep_freed_memory
from tasks.pixels.metadata import PhotoKind, kind_of

_DEMOSAIC = {d: getattr(rawpy.DemosaicAlgorithm, d.value) for d in Demosaic}
_HIGHLIGHTS = {
    HighlightMode.CLIP: rawpy.HighlightMode.Clip,
    HighlightMode.BLEND: rawpy.HighlightMode.Blend,
    HighlightMode.RECONSTRUCT: rawpy.HighlightMode.ReconstructDefault,
}
_FBDD = {NoiseReduction.OFF: rawpy.FBDDNoiseReductionMode.Off, NoiseReduction.LIGHT: rawpy.FBDDNoiseReductionMode.Light,
         NoiseReduction.FULL: rawpy.FBDDNoiseReductionMode.Full}
DUV_PER_TINT = 3e-4


def kelvin_to_xyz(kelvin: float, tint: float = 0.0) -> np.ndarray:
    """XYZ (Y = 1) of a light of colour temperature ``kelvin``, ``tint`` off the Planckian locus (colour-science's
    CCT and Duv to CIE 1960 uv, Ohno 2013)."""
    colour = science()
    uv = colour.temperature.CCT_to_uv(np.array([kelvin, tint * DUV_PER_TINT]), method="Ohno 2013")
    return colour.xy_to_XYZ(colour.UCS_uv_to_xy(uv))


def camera_neutral(raw: rawpy.RawPy, xyz: np.ndarray) -> np.ndarray:
    """The camera's raw R, G, B response to a white of colour ``xyz``."""
    cam_xyz = np.asarray(raw.rgb_xyz_matrix, np.float64)[:3]
    if cam_xyz.any():
        return cam_xyz @ xyz
    xyz_to_srgb = np.linalg.inv(rgb_to_xyz("srgb"))
    daylight = np.asarray(raw.daylight_whitebalance[:3], np.float64)
    rgb_cam = np.asarray(raw.color_matrix, np.float64)[:, :3]
    if rgb_cam.any() and daylight.all():
        return np.diag(1 / daylight) @ np.linalg.inv(rgb_cam) @ xyz_to_srgb @ xyz
    d65 = rgb_to_xyz("srgb").sum(axis=1)
    base = 1 / daylight if daylight.all() else np.ones(3)
    return base * (xyz_to_srgb @ xyz) / (xyz_to_srgb @ d65)


def kelvin_multipliers(raw: rawpy.RawPy, kelvin: float, tint: float) -> list[float]:
    """LibRaw ``user_wb`` (R, G, B, G2 multipliers) that make a ``kelvin``/``tint`` light neutral."""
    neutral = camera_neutral(raw, kelvin_to_xyz(kelvin, tint))
    gains = neutral[1] / np.maximum(neutral, 1e-6)
    return [float(gains[0]), 1.0, float(gains[2]), 1.0]


def _raw_args(raw: rawpy.RawPy, params: DecodeParams, half_size: bool) -> dict:
    args = dict(
        output_bps=16,
        gamma=(1, 1),
        no_auto_bright=True,
        adjust_maximum_thr=0.0,  # LibRaw would otherwise stretch frames whose brightest value is under white
        output_color=rawpy.ColorSpace.Rec2020,
        demosaic_algorithm=_DEMOSAIC[params.demosaic],
        highlight_mode=_HIGHLIGHTS[params.highlight_mode],
        fbdd_noise_reduction=_FBDD[params.noise_reduction],
        median_filter_passes=params.median_passes,
        half_size=half_size,
    )
    if params.white_balance is WhiteBalance.KELVIN:
        args["user_wb"] = kelvin_multipliers(raw, params.kelvin, params.tint)
    else:
        args["use_camera_wb"] = params.white_balance is WhiteBalance.AS_SHOT
        args["use_auto_wb"] = params.white_balance is WhiteBalance.AUTO
    return args


NOISE_BANDS = 32          # the sensor's rows in this many bands, for :func:`noise_rows`
NOISE_ROW_STEP = 4        # every 4th row of a band is looked at: enough for bytes that are noise, a fortieth of the work


def noise_rows(mosaic: np.ndarray, white: float) -> tuple[int, int] | None:
    """The first and last row of the bands of the sensor data ``mosaic`` (the RAW's values before demosaicing)
    that are noise, not a picture: bytes a card or a copy damaged, which LibRaw decodes without complaint in
    uncompressed formats (a full-width band of static in the delivered photo). Noise is told by two things a
    picture does not have together, measured on every 4th row of each of 32 bands: values spread evenly over the
    whole range (the spread of uniform noise, 0.29 of white; half of it or more here), and no likeness between a
    value and its neighbour of the same colour two columns on (correlation under 0.2; the real camera files
    measure 0.69-1.0, the darkest and noisiest bands included, where the spread is small). None when no band is."""
    height = mosaic.shape[0]
    found = []
    for band in range(NOISE_BANDS):
        rows = mosaic[band * height // NOISE_BANDS:(band + 1) * height // NOISE_BANDS:NOISE_ROW_STEP]
        if rows.size == 0 or rows.shape[1] < 3:
            continue
        values = rows.astype(np.float32)
        left, right = values[:, :-2].ravel(), values[:, 2:].ravel()
        spread = float(values.std())
        if spread < 0.15 * white or not 0.25 * white < float(values.mean()) < 0.75 * white:
            continue
        if float(np.corrcoef(left, right)[0, 1]) < 0.2:
            found.append(band)
    if not found:
        return None
    return found[0] * height // NOISE_BANDS, (found[-1] + 1) * height // NOISE_BANDS - 1


def decode_raw_linear16(path: Path, params: DecodeParams, *, half_size: bool = False) -> np.ndarray:
    """A RAW file -> uint16 HxWx3 linear Rec.2020 (65535 = white). A RAW whose data holds a band of noise
    (:func:`noise_rows`) is refused with what to do: a damaged copy is not a picture to deliver."""
    try:
        with rawpy.imread(str(path)) as raw:
            if (damaged := noise_rows(raw.raw_image_visible, float(raw.white_level))) is not None:
                first, last = damaged
                raise PhotoError(
                    f"{Path(path).name}: rows {first}-{last} of its {raw.raw_image_visible.shape[0]} hold noise, not "
                    "a picture: the file was damaged on the card or as it was copied. Open the card's own file in "
                    "the camera maker's software: if it is whole, copy it again over this one in the order's card "
                    "folder, and `postline order retry` reads the new copy; the rest of this order goes on.")
            return raw.postprocess(**_raw_args(raw, params, half_size))
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise PhotoError(
            f"{Path(path).name}: LibRaw cannot decode this RAW file ({type(exc).__name__}). "
            "It is probably corrupt, truncated or from a camera LibRaw does not support: copy it again from the card."
        ) from exc


def decode_raw(path: Path, params: DecodeParams, *, half_size: bool = False) -> np.ndarray:
    image = decode_raw_linear16(path, params, half_size=half_size).astype(np.float32)
    image *= 1.0 / 65535.0
    return image


def decode_raster(path: Path) -> np.ndarray:
    """JPEG or TIFF (8 or 16 bit, assumed sRGB) -> working space."""
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode in ("I;16", "I;16B", "I"):
                data = np.asarray(img, dtype=np.float32) / 65535.0
                data = np.repeat(data[..., None], 3, axis=2)
            else:
                data = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PhotoError(f"{Path(path).name}: cannot decode this image ({type(exc).__name__}). "
                         "Export it again as JPEG or TIFF.") from exc
    return display_to_working(data)


def _check_kind(path: Path) -> PhotoKind:
    kind = kind_of(path)
    if kind not in (PhotoKind.RAW, PhotoKind.JPEG, PhotoKind.TIFF):
        raise PhotoError(f"{Path(path).name}: not a photo type postline reads (RAW, JPEG or TIFF).")
    return kind


def decode(path: Path, params: DecodeParams, *, half_size: bool = False) -> np.ndarray:
    """Any photo -> float32 HxWx3 linear Rec.2020."""
    if _check_kind(path) is PhotoKind.RAW:
        return decode_raw(path, params, half_size=half_size)
    return decode_raster(path)


def decode_linear16(path: Path, params: DecodeParams, *, half_size: bool = False) -> np.ndarray:
    """Any photo -> uint16 HxWx3 linear Rec.2020 (what the fused grading pass takes). The process
    keeps freed image buffers from here on (``tasks.pixels.memory``): grading photo after photo."""
    keep_freed_memory()
    if _check_kind(path) is PhotoKind.RAW:
        return decode_raw_linear16(path, params, half_size=half_size)
    image = decode_raster(path)
    if half_size:
        image = image[::2, ::2]
    out = np.empty(image.shape, np.uint16)
    np.rint(np.clip(image, 0.0, 1.0) * 65535.0, out=out, casting="unsafe")
    return out
