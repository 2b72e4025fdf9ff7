"""Decode a photo into the working space: linear Rec.2020, float32, as the photo is viewed
(camera orientation applied). RAW through LibRaw (rawpy); JPEG/TIFF through Pillow.
Errors name the file and say what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rawpy
from PIL import Image, ImageOps

from presets.model import DecodeParams, Demosaic, HighlightMode, WhiteBalance
from tasks.errors import PhotoError
from tasks.pixels.colour import display_to_working
from tasks.pixels.metadata import PhotoKind, kind_of

_DEMOSAIC = {d: getattr(rawpy.DemosaicAlgorithm, d.value) for d in Demosaic}
_HIGHLIGHTS = {
    HighlightMode.CLIP: rawpy.HighlightMode.Clip,
    HighlightMode.BLEND: rawpy.HighlightMode.Blend,
    HighlightMode.RECONSTRUCT: rawpy.HighlightMode.ReconstructDefault,
}


def decode_raw(path: Path, params: DecodeParams, *, half_size: bool = False) -> np.ndarray:
    try:
        with rawpy.imread(str(path)) as raw:
            rgb16 = raw.postprocess(
                output_bps=16,
                gamma=(1, 1),
                no_auto_bright=True,
                adjust_maximum_thr=0.0,  # LibRaw would otherwise stretch frames whose brightest value is under white

                output_color=rawpy.ColorSpace.Rec2020,
                use_camera_wb=params.white_balance is WhiteBalance.AS_SHOT,
                use_auto_wb=params.white_balance is WhiteBalance.AUTO,
                demosaic_algorithm=_DEMOSAIC[params.demosaic],
                highlight_mode=_HIGHLIGHTS[params.highlight_mode],
                half_size=half_size,
            )
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise PhotoError(
            f"{Path(path).name}: LibRaw cannot decode this RAW file ({type(exc).__name__}: {exc}). "
            "It is probably corrupt or truncated: copy it again from the card."
        ) from exc
    image = rgb16.astype(np.float32)
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
        raise PhotoError(f"{Path(path).name}: cannot decode this image ({exc}). "
                         "Export it again as JPEG or TIFF.") from exc
    return display_to_working(data)


def decode(path: Path, params: DecodeParams, *, half_size: bool = False) -> np.ndarray:
    kind = kind_of(path)
    if kind is PhotoKind.RAW:
        return decode_raw(path, params, half_size=half_size)
    if kind in (PhotoKind.JPEG, PhotoKind.TIFF):
        return decode_raster(path)
    raise PhotoError(f"{Path(path).name}: not a photo type postline reads (RAW, JPEG or TIFF).")
