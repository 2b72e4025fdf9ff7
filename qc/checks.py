"""Automatic QC checks of a finished photo. Pure: pixels, bytes and checksums in, problems out
(``qc.gate`` reads the files and the record and passes them here).

Each problem carries a reason code from the studio's taxonomy and a sentence for people; the gate
blames a stage from the code, so a rejection goes back where the defect came from: exposure and
colour cast to grading, the rest (sharpness lost, wrong size, missing profile, a damaged file) to
the stage that made the file."""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from PIL import ImageCms

from config.line import QcGateSpec
from tasks.pixels.colour import luma


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


EXPOSURE_REASONS = frozenset({Reason.ALL_BLACK, Reason.ALL_WHITE, Reason.CLIPPING})
# Defects that go back to grading (the first stage): exposure, and white balance.
GRADING_REASONS = EXPOSURE_REASONS | {Reason.COLOUR_CAST}

ANALYSIS_LONG_EDGE = 1024   # colour statistics on a copy this size: plenty, and fast on 24 MP


@dataclass(frozen=True)
class Problem:
    reason: Reason
    message: str


def _small(display: np.ndarray) -> np.ndarray:
    height, width = display.shape[:2]
    scale = ANALYSIS_LONG_EDGE / max(height, width)
    if scale >= 1:
        return display
    return cv2.resize(display, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=cv2.INTER_AREA)


def check_image(display: np.ndarray, *, expected_size: tuple[int, int] | None, spec: QcGateSpec,
                expected_aspect: float | None = None,
                neutral_tint: tuple[float, float] = (0.0, 0.0)) -> list[Problem]:
    """Exposure, size and colour. ``expected_size`` is (width, height) as the photo is viewed; where a
    crop is allowed give ``expected_aspect`` (width / height) instead. ``neutral_tint`` is the a*, b*
    the order's preset gives greys on purpose (see ``preset_neutral_tint``)."""
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
    sample = display[::2, ::2]
    mean = float(luma(sample).mean())
    if mean < spec.min_mean_luma:
        problems.append(Problem(Reason.ALL_BLACK, f"is almost black (mean level {mean:.1%})"))
    elif mean > spec.max_mean_luma:
        problems.append(Problem(Reason.ALL_WHITE, f"is almost white (mean level {mean:.1%})"))
    # Blown: every channel at the top (pure white); crushed: every channel at the bottom.
    clipped = float(((sample.min(axis=2) >= 0.99) | (sample.max(axis=2) <= 1 / 255)).mean())
    if clipped > spec.max_clipped_share:
        problems.append(Problem(Reason.CLIPPING,
                                f"has {clipped:.0%} clipped pixels (limit {spec.max_clipped_share:.0%}): "
                                "highlights or shadows are blown"))
    cast = colour_cast(display, spec, neutral_tint)
    if cast is not None:
        problems.append(cast)
    return problems


def neutral_ab(display: np.ndarray, spec: QcGateSpec) -> tuple[float, float, float] | None:
    """Mean a*, b* of the mid-tone pixels, each weighted by how near-neutral it is (a Gaussian of its chroma,
    ``spec.neutral_chroma`` wide), and their weighted share; None if too few to judge. The weight falls
    smoothly, so greys pushed far off by a strong cast still count (a hard chroma cut-off would lose them
    and see no cast at all)."""
    lab = cv2.cvtColor(np.clip(_small(display), 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)  # sRGB in, D65
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


def _colorants(icc: bytes) -> np.ndarray:
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
        found, wanted = _colorants(icc), _colorants(expected)
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError) as exc:
        return Problem(Reason.NO_ICC, f"has an unreadable ICC profile ({exc}); save with the sRGB profile")
    if np.abs(found - wanted).max() > 0.01:
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
