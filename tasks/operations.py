"""The automatic operation of each stage: file in, file out. Pixel maths lives in ``tasks/pixels``;
this module only reads, applies, writes. Grading is its own (RAW decode + the order's preset, one fused
pass); every other operation runs through the registry (``tasks.pixels.registry``) with the stage's
parameters from the line, on the working TIFF (sRGB-encoded, float32 when read)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.line import Operation
from config.settings import get_settings
import numpy as np

from presets.model import OutputSpace, Preset
from tasks.pixels import imageio, look, registry, tone
from tasks.pixels.decode import decode_linear16


@dataclass(frozen=True)
class OpContext:
    preset: Preset
    round: int            # 1 = first pass; higher = rework after a QC rejection
    proof_path: Path | None = None
    calibration: tuple[tuple[float, ...], ...] | None = None  # the session's fit, 3x3 or 3x6 (tasks/calibration.py)
    params: Mapping[str, Any] | None = None   # the stage's params from the line (StageSpec.params); None: defaults


def grade(source: Path, output: Path, ctx: OpContext) -> None:
    """RAW (or JPEG/TIFF) + the order's preset -> 16-bit working TIFF (sRGB) and a JPEG proof.
    The preset's look is applied in one fused pass (``tasks.pixels.look``); output sharpening is left
    to delivery. On a rework round the exposure is rescued so the highlights QC found blown come back."""
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
