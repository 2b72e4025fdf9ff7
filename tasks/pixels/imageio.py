"""Reading and writing postline's image files.

Working files are 16-bit RGB TIFFs, sRGB-encoded with the sRGB ICC profile embedded
(Photoshop opens them as they are). Delivery files are 8-bit JPEGs with the profile.
Writes are atomic: a file either is complete or is not there. Each is written under a temporary name
(``.<name>.<pid>.tmp``) and renamed when complete; a write that fails (a full disk) removes its temporary file,
and one a killed process left behind is removed by the order's next run (``tasks.files.leftovers``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageCms

U16 = 65535.0


@lru_cache(maxsize=1)
def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


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


def write_working_tiff(path: Path, display: np.ndarray) -> Path:
    """Write an sRGB-encoded float image (HxWx3, [0,1]) as a 16-bit TIFF."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.empty(display.shape, dtype=np.uint16)
    np.rint(np.clip(display, 0.0, 1.0) * U16, out=data, casting="unsafe")
    return _commit(_tmp(path), path, lambda tmp: tifffile.imwrite(
        tmp, data, photometric="rgb", compression="zlib", compressionargs={"level": 1}, iccprofile=srgb_icc(),
        metadata=None))


def read_working_tiff(path: Path) -> np.ndarray:
    data = tifffile.imread(path)
    if data.ndim != 3 or data.shape[2] != 3 or data.dtype != np.uint16:
        raise ValueError(f"{path}: expected a 16-bit RGB working TIFF, found {data.dtype} {data.shape}")
    return data.astype(np.float32) / U16


def to_pil8(display: np.ndarray) -> Image.Image:
    return Image.fromarray(np.rint(np.clip(display, 0.0, 1.0) * 255.0).astype(np.uint8), "RGB")


def write_jpeg(path: Path, image: Image.Image | np.ndarray, *, quality: int = 92, long_edge: int | None = None) -> Path:
    """Write an sRGB JPEG with the profile embedded; ``long_edge`` downsizes (never enlarges)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil = image if isinstance(image, Image.Image) else to_pil8(image)
    if long_edge and max(pil.size) > long_edge:
        scale = long_edge / max(pil.size)
        pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.LANCZOS)
    return _commit(_tmp(path), path, lambda tmp: pil.save(
        tmp, "JPEG", quality=quality, icc_profile=srgb_icc(), optimize=True, subsampling=0 if quality >= 90 else 2))

