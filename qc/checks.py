"""Automatic QC checks of a finished photo. Pure: pixels, bytes and checksums in, problems out
(``qc.gate`` reads the files and the record and passes them here).

Each problem carries a reason code from the studio's taxonomy and a sentence for people; the gate
blames a stage from the code, so a rejection goes back where the defect came from: exposure and
colour cast to grading, a lost look to the first stage whose output shows it, the rest (sharpness lost,
wrong size, missing profile, a damaged file) to the stage that made the file."""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from PIL import ImageCms

from config.line import QcGateSpec
from tasks.pixels import exposure
from tasks.pixels.colour import hue_turn, luma
from tasks.pixels.imageio import downsized


class Reason(StrEnum):
    UNREADABLE = "unreadable"
    INTEGRITY = "integrity"              # the file is not the one the stage recorded, or does not decode whole
    DIMENSIONS = "dimensions"
    ASPECT = "aspect"
    ALL_BLACK = "all_black"
    ALL_WHITE = "all_white"
    CLIPPING = "clipping"
    COLOUR_CAST = "colour_cast"
    SHARPNESS_LOST = "sharpness_lost"
    OVER_SMOOTHED_SKIN = "over_smoothed_skin"
    NO_ICC = "no_icc"
    LOOK_LOST = "look_lost"              # colour, saturation or tone collapsed or shifted against the graded reference


EXPOSURE_REASONS = frozenset({Reason.ALL_BLACK, Reason.ALL_WHITE, Reason.CLIPPING})
# Defects that go back to grading (the first stage): exposure, and white balance.
GRADING_REASONS = EXPOSURE_REASONS | {Reason.COLOUR_CAST}

ANALYSIS_LONG_EDGE = 1024   # colour statistics on a copy this size: plenty, and fast on 24 MP


@dataclass(frozen=True)
class Problem:
    reason: Reason
    message: str
    stage: str | None = None        # the stage that introduced it, when the check can tell (a lost look)


def analysis_copy(display: np.ndarray, long_edge: int = ANALYSIS_LONG_EDGE) -> np.ndarray:
    """The image at most ``long_edge`` pixels on its long side (area-averaged), as the checks measure it."""
    return downsized(display, long_edge)


def check_image(display: np.ndarray, *, expected_size: tuple[int, int] | None, spec: QcGateSpec,
                expected_aspect: float | None = None,
                neutral_tint: tuple[float, float] = (0.0, 0.0), camera_blown: float = 0.0) -> list[Problem]:
    """Exposure, size and colour. ``expected_size`` is (width, height) as the photo is viewed; where a
    crop is allowed give ``expected_aspect`` (width / height) instead. ``neutral_tint`` is the a*, b*
    the order's preset gives greys on purpose (see ``preset_neutral_tint``); ``camera_blown``: the share of
    the frame blown in the camera's file (:func:`check_exposure`)."""
    problems: list[Problem] = []
    height, width = display.shape[:2]
    if expected_size is not None and (width, height) != tuple(expected_size):
        was = expected_size[0] / expected_size[1]
        turn = f"; the aspect changed from {was:.3f} to {width / height:.3f}" if abs(width / height - was) > 1e-3 else ""
        problems.append(Problem(Reason.DIMENSIONS,
                                f"is {width}x{height} px, expected {expected_size[0]}x{expected_size[1]}{turn}"))
    if expected_aspect is not None:
        error = abs(width / height - expected_aspect) / expected_aspect
        if error > spec.max_aspect_error:
            problems.append(Problem(Reason.ASPECT, f"has aspect {width / height:.3f} ({width}x{height} px), the "
                                                   f"original {expected_aspect:.3f}: cropped to another shape"))
    problems += check_exposure(display, spec, camera_blown=camera_blown)
    cast = colour_cast(display, spec, neutral_tint)
    if cast is not None:
        problems.append(cast)
    return problems


exposure_levels = exposure.levels     # the mean level and the clipped share (tasks/pixels/exposure.py)


def shares(*values: float) -> list[str]:
    """``values`` as percentages to compare: whole ones, or with a decimal where two would read the same (a photo
    just over a 10% limit has 10.3%, not "10% (limit 10%)")."""
    for decimals in (0, 1):
        said = [f"{v:.{decimals}%}" for v in values]
        if len(set(said)) == len(said):
            return said
    return [f"{v:.2%}" for v in values]


def check_exposure(display: np.ndarray, spec: QcGateSpec, *, camera_blown: float = 0.0) -> list[Problem]:
    """Almost black, almost white, or too many clipped pixels (tasks.pixels.exposure.judged). ``camera_blown``: the
    share of the frame the camera blew itself (tasks.operations.camera_blown_share), not counted: no grading or
    retouch brings it back, and the photographer may have wanted it (a high-key background)."""
    found = exposure.judged(display, spec, camera_blown=camera_blown)
    problems = []
    if found.all_black:
        problems.append(Problem(Reason.ALL_BLACK, f"is almost black (mean level {found.mean:.1%})"))
    elif found.all_white:
        problems.append(Problem(Reason.ALL_WHITE, f"is almost white (mean level {found.mean:.1%})"))
    if found.too_clipped:
        clipped, limit = shares(found.clipped, spec.max_clipped_share)
        by_camera = f", besides the {shares(camera_blown)[0]} the camera blew" if camera_blown >= 0.005 else ""
        problems.append(Problem(Reason.CLIPPING, f"has {clipped} clipped pixels{by_camera} (limit {limit}): "
                                "highlights or shadows are blown"))
    return problems


def neutral_ab(display: np.ndarray, spec: QcGateSpec) -> tuple[float, float, float] | None:
    """Mean a*, b* of the mid-tone pixels, each weighted by how near-neutral it is (a Gaussian of its chroma,
    ``spec.neutral_chroma`` wide), and their weighted share; None if too few to judge. The weight falls
    smoothly, so greys pushed far off by a strong cast still count (a hard chroma cut-off would lose them
    and see no cast at all)."""
    lab = cv2.cvtColor(np.clip(analysis_copy(display), 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)  # sRGB in, D65
    lightness, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    mid = (lightness > 15) & (lightness < 95)
    weight = np.exp(-(a * a + b * b) / (2 * spec.neutral_chroma ** 2)) * mid
    share = float(weight.mean())
    if share < spec.min_neutral_share:
        return None
    total = float(weight.sum())
    return float((weight * a).sum() / total), float((weight * b).sum() / total), share


def colour_cast(display: np.ndarray, spec: QcGateSpec, neutral_tint: tuple[float, float] = (0.0, 0.0)
                ) -> Problem | None:
    found = neutral_ab(display, spec)
    if found is None:
        return None                                       # nothing grey to judge by: no verdict
    a, b, share = found
    da, db = a - neutral_tint[0], b - neutral_tint[1]
    distance = float(np.hypot(da, db))
    if distance <= spec.max_colour_cast:
        return None
    hue = ("magenta" if da > 0 else "green") if abs(da) >= abs(db) else ("yellow" if db > 0 else "blue")
    return Problem(Reason.COLOUR_CAST,
                   f"has a {hue} cast: its greys ({share:.0%} of the frame) sit at a*={a:+.1f} b*={b:+.1f}, "
                   f"{distance:.1f} from where the preset puts them (limit {spec.max_colour_cast:g}): "
                   "check the white balance")


def sharpness(display: np.ndarray) -> float:
    """Variance of the Laplacian of luma: higher is sharper."""
    return float(cv2.Laplacian(luma(display), cv2.CV_32F, ksize=3).var())


def check_sharpness(current: np.ndarray, previous: np.ndarray, spec: QcGateSpec) -> Problem | None:
    """Sharpness of ``current`` against ``previous`` (the version before the stage that made it), on the
    same size: the larger of the two is brought down to the smaller's size first."""
    if current.shape[:2] != previous.shape[:2]:
        bigger, smaller = (current, previous) if current.size > previous.size else (previous, current)
        resized = cv2.resize(bigger, (smaller.shape[1], smaller.shape[0]), interpolation=cv2.INTER_AREA)
        current, previous = (resized, smaller) if bigger is current else (smaller, resized)
    before = sharpness(previous)
    if before <= 1e-8:
        return None                                        # a flat frame has no sharpness to lose
    ratio = sharpness(current) / before
    if ratio >= spec.min_sharpness_ratio:
        return None
    return Problem(Reason.SHARPNESS_LOST,
                   f"lost sharpness: {ratio:.0%} of the version before it (limit {spec.min_sharpness_ratio:.0%}); "
                   "over-smoothed or resampled")


def check_skin_texture(current: np.ndarray, previous: np.ndarray, spec: QcGateSpec) -> Problem | None:
    """Pores left on the faces' skin: fine-detail energy inside the skin of the faces found in ``previous``,
    against the same in ``current`` (same size only; a resized hand-back is judged by sharpness alone)."""
    from tasks.pixels import faces, skin

    if current.shape != previous.shape:
        return None
    found = faces.detect(previous)
    if not found:
        return None
    worst = None
    for face in found:
        (x0, y0, x1, y1), weight = skin.face_weight(previous, face, skin.SkinParams(scope=skin.SkinScope.FACES))
        inside = weight > 0.5
        if inside.sum() < 200:
            continue
        sigma = max(0.8, face.w * 0.008)                     # the pore scale of tasks.pixels.skin

        def texture(image: np.ndarray) -> float:
            y = luma(image[y0:y1, x0:x1])
            return float(np.var((y - cv2.GaussianBlur(y, (0, 0), sigma))[inside]))
        before = texture(previous)
        if before > 1e-8:
            ratio = texture(current) / before
            worst = ratio if worst is None else min(worst, ratio)
    if worst is None or worst >= spec.min_skin_texture_ratio:
        return None
    return Problem(Reason.OVER_SMOOTHED_SKIN,
                   f"has over-smoothed skin: {worst:.0%} of the pores' texture left (limit "
                   f"{spec.min_skin_texture_ratio:.0%}); bring the texture back")


PROFILE_TOLERANCE = 0.01   # largest difference of a primary's XYZ between two profiles taken as the same


def profile_colorants(icc: bytes) -> np.ndarray:
    """The red, green and blue primaries (XYZ) of an ICC profile: what makes two profiles the same colours."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile
    return np.array([c[0] for c in (profile.red_colorant, profile.green_colorant, profile.blue_colorant)], float)


def check_icc(icc: bytes | None, expected: bytes, spec: QcGateSpec) -> Problem | None:
    """The file's embedded ICC profile against the expected one (compared by primaries, so another
    vendor's sRGB profile passes)."""
    if not spec.require_icc:
        return None
    if not icc:
        return Problem(Reason.NO_ICC, "has no ICC colour profile embedded: colours are undefined outside postline; "
                                      "save with the sRGB profile")
    try:
        found, wanted = profile_colorants(icc), profile_colorants(expected)
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError) as exc:
        return Problem(Reason.NO_ICC, f"has an unreadable ICC profile ({exc}); save with the sRGB profile")
    if np.abs(found - wanted).max() > PROFILE_TOLERANCE:
        return Problem(Reason.NO_ICC, f"has the ICC profile {description!r}, not sRGB: convert to sRGB before saving")
    return None


def check_integrity(actual_sha256: str, recorded_sha256: str | None) -> Problem | None:
    """The file on disk against the checksum its stage recorded when it handed it on."""
    if recorded_sha256 is None or actual_sha256 == recorded_sha256:
        return None
    return Problem(Reason.INTEGRITY, f"changed after its stage handed it on (sha256 {actual_sha256[:12]}..., "
                                     f"recorded {recorded_sha256[:12]}...): redo the stage")


def preset_neutral_tint(preset) -> tuple[float, float]:
    """a*, b* the preset gives greys on purpose (a warm look's greys are warm): a grey ramp through its look."""
    from presets.model import OutputSpace
    from tasks.pixels import look

    baked = look.bake(preset, space=OutputSpace.SRGB, output_sharpening=False)
    levels = np.geomspace(0.03, 0.6, 16)
    ramp = np.repeat(np.rint(levels * 65535).astype(np.uint16)[None, :, None], 3, axis=2)
    ramp = np.ascontiguousarray(np.repeat(ramp, 2, axis=0))
    display = look.apply(ramp, baked, dtype=np.float32)
    lab = cv2.cvtColor(np.clip(display, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    mid = (lab[..., 0] > 15) & (lab[..., 0] < 95)
    if not mid.any():
        return 0.0, 0.0
    return float(lab[..., 1][mid].mean()), float(lab[..., 2][mid].mean())


# --- the look against the graded reference ---------------------------------------------------------------------
LOOK_CHROMA_FLOOR = 8.0     # CIELAB chroma under which a pixel has no hue worth comparing


@dataclass(frozen=True)
class LookShift:
    """How a photo's look differs from its graded reference, over the whole frame (CIELAB, D65)."""
    chroma_ratio: float       # mean chroma of the photo / of the reference
    ab_shift: float           # distance between their mean a*, b*
    hue_shift: float          # mean hue difference of the coloured pixels, degrees, weighted by chroma (nan when
                              # the two are framed differently, a crop)
    lightness_shift: float    # mean L* of the photo - of the reference
    contrast_ratio: float     # standard deviation of L* of the photo / of the reference


def _lab_small(display: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = np.clip(np.asarray(display, np.float32), 0, 1)
    if image.shape[1::-1] != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2Lab)


def look_shift(current: np.ndarray, reference: np.ndarray) -> LookShift:
    """``current`` (display sRGB, any size) against ``reference`` (the graded reference, small): brought to the
    reference's size first; per-pixel hue only when the two have the same aspect (not cropped)."""
    h, w = reference.shape[:2]
    same_frame = abs(current.shape[1] / current.shape[0] - w / h) < 0.01 * (w / h)
    now = _lab_small(current, (w, h) if same_frame else (max(1, round(current.shape[1] * h / current.shape[0])), h))
    ref = _lab_small(reference, (w, h))
    c_now, c_ref = np.hypot(now[..., 1], now[..., 2]), np.hypot(ref[..., 1], ref[..., 2])
    hue = float("nan")
    if same_frame:
        coloured = (c_ref >= LOOK_CHROMA_FLOOR)
        if coloured.any():
            turn = hue_turn(np.degrees(np.arctan2(ref[..., 2], ref[..., 1])),
                            np.degrees(np.arctan2(now[..., 2], now[..., 1])))
            hue = float((turn * c_ref)[coloured].sum() / c_ref[coloured].sum())
    mean_now, mean_ref = now.reshape(-1, 3).mean(axis=0), ref.reshape(-1, 3).mean(axis=0)
    return LookShift(chroma_ratio=float(c_now.mean() / max(c_ref.mean(), 1e-3)),
                     ab_shift=float(np.hypot(*(mean_now[1:] - mean_ref[1:]))), hue_shift=hue,
                     lightness_shift=float(mean_now[0] - mean_ref[0]),
                     contrast_ratio=float(now[..., 0].std() / max(float(ref[..., 0].std()), 1e-3)))


def check_look(current: np.ndarray, reference: np.ndarray, spec: QcGateSpec, *, stage: str | None = None
               ) -> Problem | None:
    """A global collapse or shift of colour, saturation or tone of ``current`` against its graded reference (the
    preset's look alone: no session calibration, no retouch), beyond ``spec``'s bounds; ``stage`` is blamed.

    Margins measured for the default bounds (QcGateSpec), every preset of the library on the demo shoot and the
    real camera files (../shared/samples/raw), full size:
      legitimate                                 chroma ratio  a*b* shift  hue shift  |L* shift|  contrast ratio
      real session calibrations (80 renders)     0.96-1.31     0.1-7.4     0.9-17.9   0.0-6.9     0.98-1.13
      automatic retouch: skin, detail, finish,
        dodge & burn, skin tones, blemish (112)  0.98-1.03     0.0-0.2     0.0-1.1    0.0-3.9     0.79-1.38
      destructive calibrations (42 renders each; every one caught)
      near-grey (80% desaturated)                0.13-0.33     0.9-9.1     1.5-11.6   0.0-1.2     0.95-1.09
      the interior false chart's fit (the issue) 0.05-1.17     1.6-11.5    25-119     0.3-32.5    0.57-3.33
      channels swapped                           1.12-1.70     1.8-26.5    96-130     0.0-4.1     0.80-1.26
      1.7 stops under                            0.59-1.56     0.4-3.7     0.3-2.3    16.8-37.3   0.61-0.79
      1.6 stops over                             0.00-1.49     1.0-11.5    0.9-58.9   2.5-28.6    0.00-1.55
    The calibrations: the demo camera's (fitted on its chart frame) on the demo shoot, canon_powershot_g2.crw's on
    both G2 frames, canon_powershot_s40_b.crw's on both S40 frames. A rework's exposure rescue moved mean L* up to
    18 and chroma up to 1.82x against the unrescued look, so the reference is graded with the same rescue."""
    shift = look_shift(current, reference)
    found = []
    if shift.chroma_ratio < spec.min_look_chroma_ratio:
        found.append(f"its colours faded to {shift.chroma_ratio:.0%} of the graded look's saturation "
                     f"(limit {spec.min_look_chroma_ratio:.0%})")
    elif shift.chroma_ratio > spec.max_look_chroma_ratio:
        found.append(f"its saturation rose to {shift.chroma_ratio:.0%} of the graded look's "
                     f"(limit {spec.max_look_chroma_ratio:.0%})")
    if shift.ab_shift > spec.max_look_ab_shift:
        found.append(f"its mean colour moved {shift.ab_shift:.1f} a*b* units from the graded look's "
                     f"(limit {spec.max_look_ab_shift:g})")
    if shift.hue_shift > spec.max_look_hue_shift:
        found.append(f"its hues turned {shift.hue_shift:.0f} degrees on average from the graded look's "
                     f"(limit {spec.max_look_hue_shift:g})")
    if abs(shift.lightness_shift) > spec.max_look_lightness_shift:
        found.append(f"it is {abs(shift.lightness_shift):.0f} L* {'lighter' if shift.lightness_shift > 0 else 'darker'}"
                     f" on average than the graded look (limit {spec.max_look_lightness_shift:g})")
    if not spec.min_look_contrast_ratio <= shift.contrast_ratio <= spec.max_look_contrast_ratio:
        found.append(f"its contrast is {shift.contrast_ratio:.0%} of the graded look's (allowed "
                     f"{spec.min_look_contrast_ratio:.0%}-{spec.max_look_contrast_ratio:.0%})")
    if not found:
        return None
    return Problem(Reason.LOOK_LOST, "lost its graded look: " + "; ".join(found), stage=stage)
