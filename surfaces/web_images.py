"""Pictures for the web pages. Before/after previews: a small sRGB JPEG made on the fly from a working TIFF (16- or
8-bit, via tifffile) or a JPEG (via Pillow). The client's gallery: proofs watermarked with the studio's name; the
senior photographer's grid: thumbnails of the originals; a preview link's small picture (all made once and kept on
disk, by content). Files in the work area are content-addressed and not rewritten,
so previews are cached by path, size and modification time. A file's size is checked from its header before
it is decoded (the same limit as a hand-back's, POSTLINE_MAX_RESULT_PIXELS)."""

from __future__ import annotations

import hashlib
import io
import os
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


# --- what clients and the senior photographer see: a proof watermarked, an original's thumbnail ----------------

GALLERY_LONG_EDGE = 1400
THUMB_LONG_EDGE = 480
SMALL_LONG_EDGE = 120    # a preview link's small picture: a gate's form in the Prefect UI shows it at this size,
                         # its natural one (three a row fill the Resume dialog, about 470 px wide)


def _cached(cache: Path, key: str, make) -> Path:  # noqa: ANN001 - make() -> bytes
    """``cache/<key>.jpg``, made by ``make`` once (written under a temporary name, then renamed)."""
    target = cache / f"{key}.jpg"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(make())
        os.replace(tmp, target)
    return target


def _key(path: Path, *parts: object) -> str:
    info = path.stat()
    return hashlib.sha256(repr((str(path), info.st_size, info.st_mtime_ns, *parts)).encode()).hexdigest()[:24]


def _encode(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def watermarked(source: Path, cache: Path, text: str, long_edge: int = GALLERY_LONG_EDGE) -> Path:
    """A JPEG of ``source`` (a proof JPEG or a working TIFF) at most ``long_edge`` px, ``text`` across it
    (tasks/pixels/watermark.py); made once per source file and text, kept in ``cache``."""
    from tasks.pixels import watermark

    def make() -> bytes:
        image = _open(source)
        image.thumbnail((long_edge, long_edge), Image.LANCZOS)
        marked = watermark.apply(np.asarray(image, np.float32) / 255.0, text)
        return _encode(Image.fromarray(np.rint(marked * 255).astype(np.uint8), "RGB"))

    return _cached(cache, _key(source, text, long_edge, "watermark-1"), make)


def shrunk(source: Path, cache: Path, long_edge: int) -> Path:
    """A JPEG of ``source`` (a finished JPEG or working TIFF) at most ``long_edge`` px, kept in ``cache``."""

    def make() -> bytes:
        image = _open(source)
        image.thumbnail((long_edge, long_edge), Image.LANCZOS)
        return _encode(image, 80)

    return _cached(cache, _key(source, long_edge, "shrunk-1"), make)


def thumbnail(original: Path, cache: Path, long_edge: int = THUMB_LONG_EDGE) -> Path:
    """A JPEG of an original (RAW: its embedded preview, else a reduced decode; JPEG, TIFF), kept in ``cache``."""
    from tasks.pixels.preview import analysis_image

    def make() -> bytes:
        picture = analysis_image(original, long_edge).image
        return _encode(Image.fromarray(np.rint(np.clip(picture, 0, 1) * 255).astype(np.uint8), "RGB"), 80)

    return _cached(cache, _key(original, long_edge, "thumb-1"), make)
