"""Before/after previews for the web page: a small sRGB JPEG made on the fly from a working TIFF (16- or
8-bit, via tifffile) or a JPEG (via Pillow). Files in the work area are content-addressed and not rewritten,
so previews are cached by path, size and modification time. A file's size is checked from its header before
it is decoded (the same limit as a hand-back's, POSTLINE_MAX_RESULT_PIXELS)."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from config.settings import get_settings
from qc.results import image_facts

PREVIEW_LONG_EDGE = 900


def _to_rgb8(data: np.ndarray) -> np.ndarray:
    """Any TIFF page's samples as HxWx3 uint8: 16-bit scaled to 8, grey repeated, alpha dropped."""
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise ValueError(f"cannot show an image of shape {data.shape}")
    if data.shape[2] == 1:
        data = np.repeat(data, 3, axis=2)
    data = data[:, :, :3]
    if data.dtype == np.uint8:
        return np.ascontiguousarray(data)
    if data.dtype == np.uint16:
        return (data >> 8).astype(np.uint8)
    if np.issubdtype(data.dtype, np.floating):
        return np.rint(np.clip(data, 0.0, 1.0) * 255).astype(np.uint8)
    raise ValueError(f"cannot show {data.dtype} samples")


def _open(path: Path) -> Image.Image:
    image_facts(path, decode=False, max_pixels=get_settings().max_result_pixels)   # ResultRefused if too big
    with path.open("rb") as fh:
        head = fh.read(4)
    if head[:2] in (b"II", b"MM"):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            # Big scans: read a reduced page or decimate while reading would be nicer; striding keeps memory flat.
            data = page.asarray()
        step = max(1, max(data.shape[:2]) // (PREVIEW_LONG_EDGE * 2))
        return Image.fromarray(_to_rgb8(data[::step, ::step]), "RGB")
    image = Image.open(path)
    image.draft("RGB", (PREVIEW_LONG_EDGE, PREVIEW_LONG_EDGE))
    return image.convert("RGB")


@lru_cache(maxsize=64)
def _preview(path: str, _size: int, _mtime_ns: int) -> bytes:
    image = _open(Path(path))
    image.thumbnail((PREVIEW_LONG_EDGE, PREVIEW_LONG_EDGE), Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def preview_jpeg(path: Path) -> bytes:
    """A JPEG at most PREVIEW_LONG_EDGE px on its long side. Raises OSError/ValueError if it cannot be read,
    :class:`qc.results.ResultRefused` if it is not an image or larger than the server opens."""
    info = Path(path).stat()
    return _preview(str(path), info.st_size, info.st_mtime_ns)
