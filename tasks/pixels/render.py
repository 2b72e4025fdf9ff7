"""Render a photo with a preset: decode, the baked look, and the file. The one entry point for
code outside grading (the order flow's grade step, the CLI, the benchmarks).

    render_image(source, preset, *, preview=False, calibration=None, dtype=np.uint8, space=None) -> HxWx3
    render(source, output, preset, *, preview=False, calibration=None) -> Path

``calibration`` is a session calibration matrix on linear Rec.2020, 3x3 or root-polynomial 3x6
(``tasks.pixels.calibrate``), baked into the look.
``preview`` decodes at half size (LibRaw's half_size: no demosaicing, a quarter of the pixels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from presets.model import OutputSpace, Preset
from tasks.pixels import fastlut, look, output
from tasks.pixels.decode import decode_linear16

JPEG_SUFFIXES = {".jpg", ".jpeg"}
TIFF_SUFFIXES = {".tif", ".tiff"}


def render_image(source: Path, preset: Preset, *, preview: bool = False, calibration: np.ndarray | None = None,
                 dtype=np.uint8, space: OutputSpace | None = None) -> np.ndarray:
    """``source`` graded with ``preset``: HxWx3 ``dtype`` in the output colour space."""
    warming = fastlut.warm_up_in_background(dtype)        # the kernel loads while LibRaw decodes
    image16 = decode_linear16(Path(source), preset.decode, half_size=preview)
    baked = look.bake(preset, calibration=calibration, space=space)
    if warming is not None:
        warming.join()
    return look.apply(image16, baked, dtype=dtype)


def render(source: Path, output_path: Path, preset: Preset, *, preview: bool = False,
           calibration: np.ndarray | None = None) -> Path:
    """Write ``source`` graded with ``preset`` to ``output_path``: 8-bit JPEG (.jpg) or 16-bit TIFF
    (.tif), in the preset's output colour space with its ICC profile embedded, and the preset's
    name, version and hash (``provenance``) in the file's comment / description."""
    output_path = Path(output_path)
    suffix = output_path.suffix.lower()
    if suffix not in JPEG_SUFFIXES | TIFF_SUFFIXES:
        raise ValueError(f"{output_path.name}: render writes .jpg or .tif files")
    space = preset.output.colour_space
    note = provenance(preset, calibration)
    if suffix in JPEG_SUFFIXES:
        rgb = render_image(source, preset, preview=preview, calibration=calibration, dtype=np.uint8)
        return output.write_jpeg(output_path, rgb, space, quality=preset.output.jpeg_quality, note=note)
    rgb = render_image(source, preset, preview=preview, calibration=calibration, dtype=np.uint16)
    return output.write_tiff16(output_path, rgb, space, note=note)


def provenance(preset: Preset, calibration: np.ndarray | None = None) -> str:
    """What a rendered file says about its making, so a reprint can re-render it exactly."""
    note = f"postline preset {preset.name} v{preset.version} sha256:{preset.resolved_hash()}"
    if calibration is not None:
        note += " calibration " + ",".join(f"{v:.6g}" for v in np.asarray(calibration, float).ravel())
    return note
