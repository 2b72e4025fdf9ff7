"""Which stage introduced a defect the QC gate found on a finished photo.

Each stage's recorded output is compared with its input (the output of the stage before it), in line order; the
first stage whose output shows the defect is the one that introduced it (its input did not show it, or an earlier
stage would have), and the reason says what changed there: ``is almost black (mean level 1.9%); Fine retouch &
colour made it so: mean level 41.2% -> 1.9%``. Outputs are read as the record has them (``work.final_output``):
a working master, or a fused stage's small preview; every output is measured at one size, at most
:data:`MEASURE_LONG_EDGE`, so a preview and a master compare alike.

Exposure (almost black or white, clipped), colour cast, lost sharpness and over-smoothed skin are traced this
way; a lost look is traced by ``qc.gate`` against the graded reference; the file's own faults (size, profile,
integrity) belong to the stage that wrote it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from config.line import Line, QcGateSpec, StageSpec
from qc import checks
from qc.checks import EXPOSURE_REASONS, Problem, Reason
from record import work
from record.db import transaction
from record.models import WorkItem
from tasks.errors import transient_cause
from tasks.pixels import imageio

TRACED = EXPOSURE_REASONS | {Reason.COLOUR_CAST, Reason.SHARPNESS_LOST, Reason.OVER_SMOOTHED_SKIN}
MEASURE_LONG_EDGE = 1024     # the graded reference's and a fused stage's preview size: what every output shares


def _read(path: str | None) -> np.ndarray | None:
    """A working file at the measuring size; None when there is none, or it is gone or not a working file (a RAW)."""
    if not path:
        return None
    try:
        return checks.analysis_copy(imageio.read_working_tiff(path), MEASURE_LONG_EDGE)
    except Exception as exc:  # noqa: BLE001 - gone or not a working file: nothing to judge by
        if transient_cause(exc) is not None:
            raise
        return None


def stage_outputs(photo_id: int, line: Line) -> Iterator[tuple[StageSpec, WorkItem | None, np.ndarray | None]]:
    """Each stage of ``line`` with its latest recorded work on the photo and that work's output at the measuring
    size (None: none recorded, or it cannot be read as a working file any more). Read one at a time, as asked."""
    with transaction() as session:
        items = [(spec, work.final_output(session, photo_id, spec.key)) for spec in line.stages]
    for spec, item in items:
        yield spec, item, _read(item.output_path if item else None)


def _shows(reason: Reason, image: np.ndarray, before: np.ndarray | None, spec: QcGateSpec,
           tint: tuple[float, float]) -> bool:
    """Whether ``image`` (a stage's output) shows the defect ``reason``; ``before`` is the stage's input."""
    if reason in EXPOSURE_REASONS:
        return any(p.reason is reason for p in checks.check_exposure(image, spec))
    if reason is Reason.COLOUR_CAST:
        return checks.colour_cast(image, spec, tint) is not None
    if before is None or before.shape != image.shape:
        return False                     # sharpness and skin need the version before, framed alike
    check = checks.check_sharpness if reason is Reason.SHARPNESS_LOST else checks.check_skin_texture
    return check(image, before, spec) is not None


def _cast(image: np.ndarray, spec: QcGateSpec, tint: tuple[float, float]) -> str:
    found = checks.neutral_ab(image, spec)
    return "no greys to judge" if found is None else f"{float(np.hypot(found[0] - tint[0], found[1] - tint[1])):.1f}"


def _what_changed(reason: Reason, title: str, image: np.ndarray, before: np.ndarray | None, spec: QcGateSpec,
                  tint: tuple[float, float]) -> str:
    """The sentence saying what the blamed stage changed: the measure before it and after it."""
    if reason in EXPOSURE_REASONS:
        mean, clipped = checks.exposure_levels(image)
        if before is None:
            return f"it came out of {title} so (mean level {mean:.1%}, clipped {clipped:.0%})"
        was_mean, was_clipped = checks.exposure_levels(before)
        was, now = checks.shares(was_clipped, clipped)
        return f"{title} made it so: mean level {was_mean:.1%} -> {mean:.1%}, clipped pixels {was} -> {now}"
    if reason is Reason.COLOUR_CAST:
        if before is None:
            return f"it came out of {title} so (cast {_cast(image, spec, tint)} a*b* units)"
        return f"{title} made it so: cast {_cast(before, spec, tint)} -> {_cast(image, spec, tint)} a*b* units"
    ratio = checks.sharpness(image) / max(checks.sharpness(before), 1e-12)
    return f"{title} did it: sharpness {ratio:.0%} of its input's"


def _worsened(reason: Reason, image: np.ndarray, before: np.ndarray | None, spec: QcGateSpec) -> float:
    """How far a stage moved its photo toward an exposure defect, as a share of that defect's limit (0: not at
    all, or not an exposure defect). Used when no output crosses the limit itself: a finished photo just over
    the clipping limit can measure just under it on the smaller copies compared here."""
    if before is None or reason not in EXPOSURE_REASONS:
        return 0.0
    (mean, clipped), (was_mean, was_clipped) = checks.exposure_levels(image), checks.exposure_levels(before)
    if reason is Reason.CLIPPING:
        return (clipped - was_clipped) / spec.max_clipped_share
    if reason is Reason.ALL_BLACK:
        return (was_mean - mean) / max(was_mean - spec.min_mean_luma, 1e-6)
    return (mean - was_mean) / max(spec.max_mean_luma - was_mean, 1e-6)


WORSENED_ENOUGH = 0.5     # moved half the way to an exposure limit: blamed when no stage's output crossed it


def trace(problems: list[Problem], photo_id: int, line: Line, spec: QcGateSpec,
          tint: tuple[float, float] = (0.0, 0.0)) -> list[Problem]:
    """``problems`` with each traceable one (:data:`TRACED`, no stage named yet) given the stage that introduced
    it and what that stage changed: the first whose output shows it, else (exposure) the stage that moved the photo
    furthest toward it, if at least :data:`WORSENED_ENOUGH` of the way. A problem no recorded output shows (outputs
    gone, or the finished file changed after its stage) is returned as it was: ``qc.gate.blamed_stage`` falls back
    to its rule for it."""
    open_ = {p.reason for p in problems if p.reason in TRACED and p.stage is None}
    if not open_:
        return problems
    found: dict[Reason, tuple[str, str]] = {}
    worst: dict[Reason, tuple[float, str, str]] = {}
    before = None
    for stage, item, image in stage_outputs(photo_id, line):
        if before is None and image is not None and item is not None:
            before = _read(item.input_path)          # the stage before recorded nothing: its input as handed on
        if image is not None:
            for reason in open_ - set(found):
                if _shows(reason, image, before, spec, tint):
                    found[reason] = (stage.key, _what_changed(reason, stage.title, image, before, spec, tint))
                elif (moved := _worsened(reason, image, before, spec)) >= max(WORSENED_ENOUGH,
                                                                               worst.get(reason, (0,))[0]):
                    worst[reason] = (moved, stage.key, _what_changed(reason, stage.title, image, before, spec, tint))
        if found.keys() >= open_:
            break
        before = image
    found |= {reason: (key, why) for reason, (_, key, why) in worst.items() if reason not in found}
    return [replace(p, stage=found[p.reason][0], message=f"{p.message}; {found[p.reason][1]}")
            if p.reason in found and p.stage is None else p for p in problems]
