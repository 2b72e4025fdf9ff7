"""Output transforms: display-referred grading values -> an output colour space, its ICC profile,
and the files (8-bit JPEG, 16-bit TIFF) with the profile embedded.

Colour space in: display-referred "extended sRGB" (sRGB transfer curve on Rec.709/sRGB primaries,
values outside [0, 1] kept), float32. Out: the target space's encoded values, clipped to [0, 1].
sRGB's ICC profile is LittleCMS's (through Pillow); Adobe RGB (1998) and Display P3 profiles are
built here as ICC v2 matrix/TRC display profiles from the published primaries (no downloads)."""

from __future__ import annotations

import os
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from presets.model import OutputSpace
from tasks.pixels.colour import conversion, rgb_to_xyz, science, srgb_decode_ext, srgb_encode

ADOBE_GAMMA = 563 / 256          # Adobe RGB (1998): a pure power 2.19921875
_SPACE = {OutputSpace.SRGB: "srgb", OutputSpace.ADOBE_RGB: "adobe_rgb", OutputSpace.DISPLAY_P3: "display_p3"}


def encode(linear: np.ndarray, space: OutputSpace) -> np.ndarray:
    """Linear light in ``space``'s primaries -> its encoded values, clipped to [0, 1]."""
    x = np.clip(linear, 0.0, 1.0)
    if space is OutputSpace.ADOBE_RGB:
        return np.power(x, 1 / ADOBE_GAMMA).astype(np.float32)
    return srgb_encode(x)          # sRGB and Display P3 share the sRGB transfer curve


def decode(encoded: np.ndarray, space: OutputSpace) -> np.ndarray:
    x = np.clip(encoded, 0.0, 1.0)
    if space is OutputSpace.ADOBE_RGB:
        return np.power(x, ADOBE_GAMMA).astype(np.float32)
    return srgb_decode_ext(x)


def apply(display: np.ndarray, space: OutputSpace) -> np.ndarray:
    """Extended-sRGB display values -> encoded values of ``space`` in [0, 1]."""
    linear = srgb_decode_ext(np.asarray(display, np.float32))
    if space is not OutputSpace.SRGB:
        linear = linear @ conversion("srgb", _SPACE[space]).T.astype(np.float32)
    return encode(linear, space)


# --- ICC profiles ---------------------------------------------------------------------------------
D50 = np.array([0.9642, 1.0, 0.8249])           # the ICC profile connection space's white, as ICC.1 writes it


def _s15(value: float) -> bytes:
    return struct.pack(">i", int(round(value * 65536)))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in xyz)


def _curve_tag(space: OutputSpace) -> bytes:
    if space is OutputSpace.ADOBE_RGB:
        return b"curv" + b"\0" * 4 + struct.pack(">IH", 1, int(round(ADOBE_GAMMA * 256))) + b"\0\0"
    x = np.linspace(0.0, 1.0, 1024)
    y = science().cctf_decoding(x, function="sRGB")
    return b"curv" + b"\0" * 4 + struct.pack(">I", len(y)) + np.round(y * 65535).astype(">u2").tobytes()


def _text_tag(text: str) -> bytes:
    return b"text" + b"\0" * 4 + text.encode("ascii") + b"\0"


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67)


def build_icc(space: OutputSpace, description: str) -> bytes:
    """An ICC v2.1 RGB display profile (matrix/TRC) for ``space``: colourants Bradford-adapted to
    the D50 PCS, media white D50 (as ICC v4 and LittleCMS expect), tone curve of the space."""
    to_xyz = rgb_to_xyz(_SPACE[space])
    white = to_xyz.sum(axis=1)
    adapt = science().adaptation.matrix_chromatic_adaptation_VonKries(white, D50, transform="Bradford")
    colourants = adapt @ to_xyz
    curve = _curve_tag(space)
    tags = [(b"desc", _desc_tag(description)), (b"cprt", _text_tag("No copyright, use freely")),
            (b"wtpt", _xyz_tag(D50)), (b"rXYZ", _xyz_tag(colourants[:, 0])), (b"gXYZ", _xyz_tag(colourants[:, 1])),
            (b"bXYZ", _xyz_tag(colourants[:, 2])), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    table, data, offset = b"", b"", 128 + 4 + 12 * len(tags)
    placed: dict[bytes, int] = {}
    for signature, payload in tags:
        if payload not in placed:            # the three TRCs share one curve
            placed[payload] = offset + len(data)
            data += payload + b"\0" * (-len(payload) % 4)
        table += signature + struct.pack(">II", placed[payload], len(payload))
    body = struct.pack(">I", len(tags)) + table + data
    size = 128 + len(body)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"APPL" + b"\0" * 4 + b"\0" * 4
              + b"\0" * 4 + b"\0" * 8 + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50)
              + b"pstl" + b"\0" * 16 + b"\0" * 28)
    assert len(header) == 128
    return header + body


@lru_cache(maxsize=3)
def icc_profile(space: OutputSpace) -> bytes:
    if space is OutputSpace.SRGB:
        from tasks.pixels.imageio import srgb_icc

        return srgb_icc()
    names = {OutputSpace.ADOBE_RGB: "Adobe RGB (1998) compatible (postline)",
             OutputSpace.DISPLAY_P3: "Display P3 (postline)"}
    return build_icc(space, names[space])


# --- files ----------------------------------------------------------------------------------------
def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_jpeg(path: Path, rgb8: np.ndarray, space: OutputSpace, *, quality: int = 92, note: str | None = None) -> Path:
    """An 8-bit RGB array as a JPEG with ``space``'s ICC profile; atomic. Chroma is subsampled 4:2:0
    below quality 95 (as most exporters do), kept 4:4:4 from 95 up. ``note`` goes in the JPEG comment."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    extra = {"comment": note.encode()} if note else {}
    Image.fromarray(rgb8, "RGB").save(tmp, "JPEG", quality=quality, icc_profile=icc_profile(space),
                                      subsampling=0 if quality >= 95 else 2, **extra)
    os.replace(tmp, path)
    return path


def write_tiff16(path: Path, rgb16: np.ndarray, space: OutputSpace, *, note: str | None = None) -> Path:
    """A 16-bit RGB array as a TIFF with ``space``'s ICC profile (``note`` as its description); atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    tifffile.imwrite(tmp, rgb16, photometric="rgb", compression="zlib", compressionargs={"level": 1},
                     iccprofile=icc_profile(space), metadata=None, description=note)
    os.replace(tmp, path)
    return path
