"""Reading and writing postline's image files.

Working files are 16-bit RGB TIFFs, sRGB-encoded with the sRGB ICC profile embedded, compressed losslessly with
the horizontal predictor (:class:`Codec`): Deflate ("ZIP" in Photoshop, which opens them as they are) for the files
people pull, Zstandard for the files only postline reads (as small, about seven times faster to write; Photoshop does
not read it). Delivery files are 8-bit JPEGs with the profile.
Writes are atomic: a file either is complete or is not there. Each is written under a temporary name
(``.<name>.<pid>.tmp``) and renamed when complete; a write that fails (a full disk) removes its temporary file,
and one a killed process left behind is removed by the order's next run (``tasks.files.leftovers``).
"""

from __future__ import annotations

import os
import struct
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageCms

from tasks.pixels import kernels

U16 = 65535.0


_ICC_DATE = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)


@lru_cache(maxsize=1)
def srgb_icc() -> bytes:
    """LittleCMS's sRGB profile, the same bytes in every process: its header's creation date fixed and its
    profile ID left uncomputed (zeros, as ICC allows), where LittleCMS writes the moment the profile was made; so
    a file written by another process (a Dask worker) or made again later has the same checksum."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    icc[24:36] = _ICC_DATE
    icc[84:100] = bytes(16)
    return bytes(icc)


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _commit(tmp: Path, path: Path, write) -> Path:  # noqa: ANN001
    """``write(tmp)``, then rename it to ``path``; on any failure the temporary file is removed."""
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


class Codec(StrEnum):
    """How a working TIFF is compressed (losslessly, both with the horizontal predictor). Measured on a graded
    24 MP frame (bench/codecs.py, bench/README.md): Deflate level 1 104 MB, written in 2.8 s; Zstandard level 1
    104 MB in 0.36 s (16-bit uncompressed: 144 MB)."""
    DEFLATE = "deflate"   # what people pull: Photoshop, Lightroom, GIMP and libtiff read it
    ZSTD = "zstd"         # read only by postline (QC, delivery, the next automatic stage): Photoshop cannot open it


_CODEC_ARGS = {Codec.DEFLATE: {"compression": "zlib", "compressionargs": {"level": 1}, "predictor": 2},
               Codec.ZSTD: {"compression": "zstd", "compressionargs": {"level": 1}, "predictor": 2}}


BAND_ROWS = 256   # rows per band of a pixel-by-pixel conversion: its float temporaries stay a few MB


def bands(height: int, rows: int = BAND_ROWS) -> list[slice]:
    """Row slices covering ``height`` rows, ``rows`` at a time: numpy's pixel-by-pixel steps done band by band
    give the very values they give on the whole image, without whole-image temporaries (a 24 MP float32 image is
    288 MB; two such temporaries were the peak of writing a master). Not OpenCV's matrix and power functions:
    they give the last bit of a call's last pixels otherwise (``renditions.to_space``)."""
    return [slice(top, min(top + rows, height)) for top in range(0, height, rows)]


def to_u16(display: np.ndarray) -> np.ndarray:
    """An sRGB-encoded float image ([0,1]) as the 16-bit values a working TIFF stores; uint16 is kept as it is."""
    if display.dtype == np.uint16:
        return display
    data = np.empty(display.shape, dtype=np.uint16)
    for rows in bands(display.shape[0]):
        kernels.to_u16(display[rows], data[rows])
    return data


def from_u16(data: np.ndarray) -> np.ndarray:
    """Stored 16-bit values as the float32 image :func:`read_working_tiff` gives (one full-size float array)."""
    return kernels.from_u16(data)


def as_stored(display: np.ndarray) -> np.ndarray:
    """``display`` rounded to the values :func:`read_working_tiff` gives once it is written: the same as
    ``from_u16(to_u16(display))``; a float32 array is rounded in place, in one pass and without the 16-bit copy
    (``kernels.round_stored``)."""
    if display.dtype != np.float32 or not display.flags.writeable:
        return from_u16(to_u16(display))
    return kernels.round_stored(display)


def write_working_tiff(path: Path, display: np.ndarray, *, codec: Codec = Codec.DEFLATE,
                       description: str | None = None) -> Path:
    """Write an sRGB-encoded float image (HxWx3, [0,1]), or its 16-bit values (:func:`to_u16`), as a 16-bit TIFF;
    ``description``: its ImageDescription (:func:`working_tiff_description` reads it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = to_u16(display)
    return _commit(_tmp(path), path, lambda tmp: tifffile.imwrite(
        tmp, data, photometric="rgb", iccprofile=srgb_icc(), metadata=None, description=description,
        **_CODEC_ARGS[codec]))


def working_tiff_description(path: Path) -> str:
    """The ImageDescription :func:`write_working_tiff` wrote ('' when none)."""
    with tifffile.TiffFile(path) as tif:
        return tif.pages[0].description or ""


def read_working_tiff(path: Path) -> np.ndarray:
    data = tifffile.imread(path)
    if data.ndim != 3 or data.shape[2] != 3 or data.dtype != np.uint16:
        raise ValueError(f"{path}: expected a 16-bit RGB working TIFF, found {data.dtype} {data.shape}")
    return from_u16(data)


def to_pil8(display: np.ndarray) -> Image.Image:
    return Image.fromarray(np.rint(np.clip(display, 0.0, 1.0) * 255.0).astype(np.uint8), "RGB")


def downsized(image: np.ndarray, long_edge: int) -> np.ndarray:
    """``image`` at most ``long_edge`` pixels on its long edge, area-averaged (``image`` itself when it fits)."""
    height, width = image.shape[:2]
    scale = long_edge / max(height, width)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=cv2.INTER_AREA)


def write_jpeg(path: Path, image: Image.Image | np.ndarray, *, quality: int = 92, long_edge: int | None = None) -> Path:
    """Write an sRGB JPEG with the profile embedded; ``long_edge`` downsizes (never enlarges). A float image is
    downsized before it is made 8-bit (area-averaged, as the graded reference and the web renditions are): a
    24 MP grade's 2048 px proof took 0.55 s converted whole first, 0.09 s this way (measured here)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(image, Image.Image) and long_edge:
        image = downsized(image, long_edge)
    pil = image if isinstance(image, Image.Image) else to_pil8(image)
    if long_edge and max(pil.size) > long_edge:
        scale = long_edge / max(pil.size)
        pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.LANCZOS)
    return _commit(_tmp(path), path, lambda tmp: pil.save(
        tmp, "JPEG", quality=quality, icc_profile=srgb_icc(), optimize=True, subsampling=0 if quality >= 90 else 2))

