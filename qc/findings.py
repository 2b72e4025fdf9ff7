"""What the automatic checks see in a photo, for a person to look at: where it is clipped (the pixels
:func:`qc.checks.check_image` counts, blown and crushed apart), its mean level, and the regions a check measured
(the faces whose skin texture :func:`qc.checks.check_skin_texture` compares). Pure: a display image (sRGB float,
HxWx3, any size; the web page gives a preview-sized copy) and the gate's spec in, findings out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from config.line import QcGateSpec
from tasks.pixels.colour import luma

BLOWN_LEVEL = 0.99         # every channel at or above: blown (as qc.checks.check_image counts it)
CRUSHED_LEVEL = 1 / 255    # every channel at or below: crushed


@dataclass(frozen=True)
class Region:
    label: str
    box: tuple[float, float, float, float]     # x, y, w, h: fractions of the frame from the top left


@dataclass(frozen=True)
class Findings:
    blown: np.ndarray = field(repr=False)      # HxW bool, the size of the image given
    crushed: np.ndarray = field(repr=False)
    notes: tuple[str, ...]                     # one sentence each, with the check's limit
    regions: tuple[Region, ...]


def clipped(display: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(blown, crushed): HxW masks of the pixels clipped at the top and at the bottom."""
    return display.min(axis=2) >= BLOWN_LEVEL, display.max(axis=2) <= CRUSHED_LEVEL


def find(display: np.ndarray, spec: QcGateSpec, *, faces: bool = True) -> Findings:
    """The findings of ``display``. ``faces``: also find the faces whose skin texture QC compares."""
    if display.ndim != 3 or display.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got {display.shape}")
    blown, crushed = clipped(display)
    share = float((blown | crushed).mean())
    mean = float(luma(display).mean())
    notes = [f"clipped: {share:.1%} of the frame ({float(blown.mean()):.1%} blown, {float(crushed.mean()):.1%} "
             f"crushed; the check refuses more than {spec.max_clipped_share:.0%})",
             f"mean level {mean:.0%} (the check refuses under {spec.min_mean_luma:.0%} or over "
             f"{spec.max_mean_luma:.0%})"]
    regions: list[Region] = []
    if faces:
        from tasks.pixels import faces as face_finder

        height, width = display.shape[:2]
        found = face_finder.detect(np.ascontiguousarray(display, np.float32))
        regions = [Region("skin texture measured here", (f.x / width, f.y / height, f.w / width, f.h / height))
                   for f in found]
        notes.append(f"{len(found)} face(s) found: their skin texture is compared with the stage's input"
                     if found else "no face found: skin texture not measured")
    return Findings(blown=blown, crushed=crushed, notes=tuple(notes), regions=tuple(regions))
