"""The automatic operation of each stage: file in, file out. Pixel maths lives in ``tasks/pixels``;
this module only reads, applies, writes. Grading is its own (RAW decode + the order's preset, one fused
pass); every other operation runs through the registry (``tasks.pixels.registry``) with the stage's
parameters from the line, on the working TIFF (sRGB-encoded, float32 when read)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from config.line import Operation
from config.settings import get_settings
from presets.model import OutputSpace, Preset
from tasks.files import work_path
from tasks.pixels import imageio, look, registry, tone
from tasks.pixels.decode import decode_linear16


REFERENCE_LONG_EDGE = 384   # the graded reference's long edge: enough for QC's whole-frame statistics


def reference_path(order_id: int, photo_id: int, round: int) -> Path:
    """Where grading writes a photo's graded reference for ``round`` (beside the proofs, under the work folder)."""
    return work_path(order_id, "reference", photo_id, round)


@dataclass(frozen=True)
class OpContext:
    preset: Preset
    round: int            # 1 = first pass; higher = rework after a QC rejection
    proof_path: Path | None = None
    calibration: tuple[tuple[float, ...], ...] | None = None  # the session's fit, 3x3 or 3x6 (tasks/calibration.py)
    params: Mapping[str, Any] | None = None   # the stage's params from the line (StageSpec.params); None: defaults
    reference_path: Path | None = None  # grade: where to write the graded reference QC compares the look with


def grade(source: Path, output: Path, ctx: OpContext) -> None:
    """RAW (or JPEG/TIFF) + the order's preset -> 16-bit working TIFF (sRGB) and a JPEG proof.
    The preset's look is applied in one fused pass (``tasks.pixels.look``); output sharpening is left
    to delivery. On a rework round the exposure is rescued so the highlights QC found blown come back.
    With ``ctx.reference_path``, also the graded reference: the same decode through the preset alone (this
    round's exposure included; no session calibration), small, for QC's look check (``qc.checks.check_look``)."""
    preset = ctx.preset
    image16 = decode_linear16(source, preset.decode)
    if ctx.round > 1:
        sample = image16[::2, ::2].astype(np.float32) * (1.0 / 65535.0)
        rescue = {"exposure_ev": tone.exposure_rescue_ev(sample)}
        preset = preset.model_copy(update={"tone": preset.tone.model_copy(update=rescue)})
    calibration = np.asarray(ctx.calibration, np.float32) if ctx.calibration is not None else None
    baked = look.bake(preset, calibration=calibration, space=OutputSpace.SRGB, output_sharpening=False)
    display = look.apply(image16, baked, dtype=np.float32)
    imageio.write_working_tiff(output, display)
    if ctx.proof_path is not None:
        settings = get_settings()
        imageio.write_jpeg(ctx.proof_path, display, quality=85, long_edge=settings.web_long_edge)
    if ctx.reference_path is not None:
        imageio.write_working_tiff(ctx.reference_path, graded_reference(image16, preset))


def graded_reference(image16: np.ndarray, preset: Preset) -> np.ndarray:
    """The look ``preset`` alone gives the decoded ``image16`` (no session calibration, no retouch), display sRGB
    float32, at most REFERENCE_LONG_EDGE: what QC compares each photo's look with."""
    height, width = image16.shape[:2]
    scale = REFERENCE_LONG_EDGE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image16 = cv2.resize(image16, size, interpolation=cv2.INTER_AREA)
    return look.apply(image16, look.bake(preset, space=OutputSpace.SRGB, output_sharpening=False), dtype=np.float32)


def _on_working_file(name: Operation) -> Callable[[Path, Path, OpContext], None]:
    """The registered operation ``name`` as working TIFF in, working TIFF out, with the stage's params
    (upgraded if the line was written for an older version; a ParamsError fails the photo with its reason)."""
    operation = registry.get(name.value)
    if operation.space_in is not registry.ColourSpace.DISPLAY_SRGB or operation.space_out is not operation.space_in:
        raise TypeError(f"operation {name.value!r} works in {operation.space_in.value} -> {operation.space_out.value}; "
                        "the working TIFF is display_srgb and postline converts nothing between stages")

    def run(source: Path, output: Path, ctx: OpContext) -> None:
        params = operation.parse(ctx.params)
        imageio.write_working_tiff(output, operation(imageio.read_working_tiff(source), params))
    run.__doc__ = operation.summary
    return run


OPERATIONS: dict[Operation, Callable[[Path, Path, OpContext], None]] = {
    Operation.GRADE: grade,
    **{name: _on_working_file(name) for name in Operation if name is not Operation.GRADE},
}
