"""The automatic operation of each stage, on an image (:data:`STEPS`, what a fused pass of automatic stages chains,
tasks/stages.py) or file in, file out (:data:`OPERATIONS`, what an assisted stage's preparation runs). Pixel maths
lives in ``tasks/pixels``; this module only reads, applies, writes. Grading is its own (RAW decode + the order's
preset, one fused pass); every other operation runs through the registry (``tasks.pixels.registry``) with the
stage's parameters from the line, on the working image (sRGB-encoded, float32). Between two operations the image
is rounded to the 16 bits a working TIFF stores (:func:`step`), so a fused pass gives the very pixels that
stage-by-stage files would."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from config.line import Operation, QcGateSpec
from config.settings import get_settings
from presets.model import OutputSpace, Preset
from tasks.files import work_path
from tasks.pixels import exposure, imageio, look, registry, tone
from tasks.pixels.decode import decode_linear16


REFERENCE_LONG_EDGE = 384   # the graded reference's long edge: enough for QC's whole-frame statistics


def reference_path(order_id: int, photo_id: int, round: int) -> Path:
    """Where grading writes a photo's graded reference for ``round`` (beside the proofs, under the work folder)."""
    return work_path(order_id, "reference", photo_id, round)


def preview_path(order_id: int, stage: str, photo_id: int, round: int) -> Path:
    """Where a fused stage that writes no working master keeps its output small (the graded reference's size):
    recorded as the stage's output, what QC compares with the reference to find the stage that lost the look."""
    return work_path(order_id, stage, photo_id, round, "-preview.tif")


def small(image: np.ndarray) -> np.ndarray:
    """``image`` at most REFERENCE_LONG_EDGE on its long edge (area-averaged), as the graded reference is made."""
    return imageio.downsized(image, REFERENCE_LONG_EDGE)


@dataclass(frozen=True)
class OpContext:
    preset: Preset
    round: int            # 1 = first pass; higher = rework after a QC rejection
    proof_path: Path | None = None
    calibration: tuple[tuple[float, ...], ...] | None = None  # the session's fit, 3x3 or 3x6 (tasks/calibration.py)
    params: Mapping[str, Any] | None = None   # the stage's params from the line (StageSpec.params); None: defaults
    reference_path: Path | None = None  # grade: where to write the graded reference QC compares the look with
    gate: QcGateSpec = QcGateSpec()    # grade: the line's QC gate, whose exposure limits a rescue aims inside
    rescue_exposure: bool = False  # grade, first pass: a frame QC's exposure check would send back, rescued at once
    exposure: tuple[float, bool] | None = None   # grade, made again: the exposure and kept-white its pass recorded


class Graded(NamedTuple):
    """A stage's result in a fused pass; for grading, the exposure it graded with and whether what the camera
    blew was kept white (recorded with the work: record.models.WorkItem.exposure_ev, kept_white)."""
    image: np.ndarray
    exposure_ev: float | None = None
    kept_white: bool = False


def grade_image(source: Path, ctx: OpContext) -> Graded:
    """RAW (or JPEG/TIFF) + the order's preset -> the graded working image (sRGB-encoded float32), and with
    ``ctx.proof_path`` its JPEG proof. The preset's look is applied in one fused pass (``tasks.pixels.look``);
    output sharpening is left to delivery. On a rework round the exposure is rescued so the highlights QC found
    blown come back (or a dark frame brought up); with ``ctx.rescue_exposure`` (people work the photo next), a
    first pass QC's exposure check (``tasks.pixels.exposure.judged``, as the gate judges it) would send back is
    graded as that rework would, at once, before a retoucher works a photo only to work it again.
    With ``ctx.exposure`` (a file made again), the exposure its pass recorded, as it is: nothing computed anew.
    With ``ctx.reference_path``, also the graded reference: the same decode through the preset
    alone (this round's exposure included; no session calibration), small, for QC's look check
    (``qc.checks.check_look``)."""
    preset = ctx.preset
    image16 = decode_linear16(source, preset.decode)
    calibration = np.asarray(ctx.calibration, np.float32) if ctx.calibration is not None else None
    pulled = False
    if ctx.exposure is not None:
        ev, pulled = ctx.exposure
        preset = preset.model_copy(update={"tone": preset.tone.model_copy(update={"exposure_ev": ev})})
    elif ctx.round > 1:
        preset, pulled = rescued(image16, preset, calibration, limit=ctx.gate.max_clipped_share)
    display = _looked(image16, preset, calibration, kept_white=pulled)
    sample = blown = None                    # once: the check, the rescue and the reference read them
    if ctx.rescue_exposure and ctx.exposure is None and ctx.round == 1:
        sample = small(image16)
        blown = camera_blown_in(sample)
        if exposure.judged(display, ctx.gate, camera_blown=blown).fails:
            preset, pulled = rescued(image16, preset, calibration, limit=ctx.gate.max_clipped_share, sample=sample)
            if preset is not ctx.preset:
                display = _looked(image16, preset, calibration, kept_white=pulled)
    if ctx.proof_path is not None:
        settings = get_settings()
        imageio.write_jpeg(ctx.proof_path, display, quality=85, long_edge=settings.web_long_edge)
    if ctx.reference_path is not None:
        sample = small(image16) if sample is None else sample
        blown = camera_blown_in(sample) if blown is None else blown
        imageio.write_working_tiff(ctx.reference_path, graded_reference(image16, preset, kept_white=pulled,
                                                                         sample=sample),
                                   codec=imageio.Codec.ZSTD, description=json.dumps({"camera_blown": round(blown, 4)}))
    return Graded(display, preset.tone.exposure_ev, pulled)


def _looked(image16: np.ndarray, preset: Preset, calibration: np.ndarray | None, *, kept_white: bool) -> np.ndarray:
    """``preset``'s look on the decoded ``image16`` (display sRGB float32); ``kept_white``: what the camera blew
    white again (:func:`rescued` pulled the exposure down)."""
    baked = look.bake(preset, calibration=calibration, space=OutputSpace.SRGB, output_sharpening=False)
    display = look.apply(image16, baked, dtype=np.float32)
    return tone.keep_white(display, image16) if kept_white else display


def camera_blown_in(sample: np.ndarray) -> float:
    """The share of the frame the camera blew itself, measured on :func:`small`'s ``sample`` of its decode (what
    the graded reference records for QC: :func:`camera_blown_share`)."""
    return float(np.count_nonzero(tone.camera_blown(sample))) / (sample.shape[0] * sample.shape[1])


RESCUE_STEP_EV = 0.05


def rescued(image16: np.ndarray, preset: Preset, calibration: np.ndarray | None, *,
            limit: float, sample: np.ndarray | None = None) -> tuple[Preset, bool]:
    """The preset a rework round grades with, and whether its exposure was pulled down. A frame the look leaves
    dark is brought up so its bright end reaches tone.exposure_rescue_ev's target. A frame the look blows gets
    the least pull (RESCUE_STEP_EV steps, at most to that target) after which it blows at most half the QC gate's
    ``limit`` of what the camera had not blown itself; what the camera blew no exposure brings back, and stays
    white (:func:`tone.keep_white`). A frame the look neither blows nor leaves dark keeps the preset as it is
    (sent back to grading for its colour, say). ``sample``: :func:`small` of ``image16`` when the caller has it."""
    sample = small(image16) if sample is None else sample
    target_ev = tone.exposure_rescue_ev(sample.astype(np.float32) * (1.0 / 65535.0))
    baked = look.bake(preset, calibration=calibration, space=OutputSpace.SRGB, output_sharpening=False)
    by_camera = tone.camera_blown(sample)

    def blown_at(pull: float) -> np.ndarray:
        pulled = sample if pull == 0 else np.rint(sample * np.float32(2.0 ** -pull)).astype(np.uint16)
        return (look.apply(pulled, baked, dtype=np.float32).min(axis=2) >= tone.CAMERA_WHITE) & ~by_camera

    if target_ev >= 0:
        return preset.model_copy(update={"tone": preset.tone.model_copy(update={"exposure_ev": target_ev})}), False
    ev, floor = preset.tone.exposure_ev, min(target_ev, preset.tone.exposure_ev)
    pull = 0.0
    while True:
        blown = blown_at(pull)
        if np.count_nonzero(blown) <= limit / 2 * blown.size or ev - pull <= floor:
            break
        pull = min(pull + RESCUE_STEP_EV, ev - floor)
    if pull == 0:
        return preset, False
    return preset.model_copy(update={"tone": preset.tone.model_copy(update={"exposure_ev": ev - pull})}), True


def grade(source: Path, output: Path, ctx: OpContext) -> None:
    """:func:`grade_image` written to ``output`` as a 16-bit working TIFF (sRGB)."""
    imageio.write_working_tiff(output, grade_image(source, ctx).image)


def graded_reference(image16: np.ndarray, preset: Preset, *, kept_white: bool = False,
                     sample: np.ndarray | None = None) -> np.ndarray:
    """The look ``preset`` alone gives the decoded ``image16`` (no session calibration, no retouch), display sRGB
    float32, at most REFERENCE_LONG_EDGE: what QC compares each photo's look with. ``kept_white``: what the camera
    blew white again, as grading keeps it when a rework pulled the exposure down (:func:`rescued`). ``sample``:
    :func:`small` of ``image16`` when the caller has it already."""
    sample = small(image16) if sample is None else sample
    display = look.apply(sample, look.bake(preset, space=OutputSpace.SRGB, output_sharpening=False),
                         dtype=np.float32)
    return tone.keep_white(display, sample) if kept_white else display


def camera_blown_share(reference: Path) -> float:
    """The share of the frame the camera blew (every channel at the top in its file), as grading wrote it on the
    graded reference ``reference``: 0 for a reference written before it was recorded."""
    try:
        return float(json.loads(imageio.working_tiff_description(reference) or "{}").get("camera_blown", 0.0))
    except (ValueError, AttributeError):
        return 0.0


def _retouch(name: Operation) -> Callable[[np.ndarray, OpContext], np.ndarray]:
    """The registered operation ``name`` on a working image, with the stage's params (upgraded if the line was
    written for an older version; a ParamsError fails the photo with its reason)."""
    operation = registry.get(name.value)
    if operation.space_in is not registry.ColourSpace.DISPLAY_SRGB or operation.space_out is not operation.space_in:
        raise TypeError(f"operation {name.value!r} works in {operation.space_in.value} -> {operation.space_out.value}; "
                        "the working TIFF is display_srgb and postline converts nothing between stages")

    def run(image: np.ndarray, ctx: OpContext) -> np.ndarray:
        return operation(image, operation.parse(ctx.params))
    run.__doc__ = operation.summary
    return run


RETOUCH: dict[Operation, Callable[[np.ndarray, OpContext], np.ndarray]] = {
    name: _retouch(name) for name in Operation if name is not Operation.GRADE}


def step(operation: Operation, image: np.ndarray | None, source: Path, ctx: OpContext, *,
         stored: bool = True) -> Graded:
    """One stage's operation in a fused pass: grading decodes ``source``; a retouch works on ``image``, the
    previous stage's result (None: the pass starts here, so ``source`` is read, a working TIFF). With ``stored``
    the result is rounded as a working TIFF stores it (``imageio.as_stored``), so the next stage sees what it
    would have read from the file; the last stage's result is written, which rounds it the same way."""
    if operation is Operation.GRADE:
        result = grade_image(source, ctx)
    else:
        result = Graded(RETOUCH[operation](imageio.read_working_tiff(source) if image is None else image, ctx))
    return result._replace(image=imageio.as_stored(result.image)) if stored else result


def _on_working_file(name: Operation) -> Callable[[Path, Path, OpContext], None]:
    """The registered operation ``name`` as working TIFF in, working TIFF out (Deflate: what people pull)."""
    retouch = RETOUCH[name]

    def run(source: Path, output: Path, ctx: OpContext) -> None:
        imageio.write_working_tiff(output, retouch(imageio.read_working_tiff(source), ctx))
    run.__doc__ = retouch.__doc__
    return run


OPERATIONS: dict[Operation, Callable[[Path, Path, OpContext], None]] = {
    Operation.GRADE: grade,
    **{name: _on_working_file(name) for name in Operation if name is not Operation.GRADE},
}
