"""A picture's exposure as the QC gate judges it: its mean level, its share of clipped pixels (blown or crushed),
and which of the gate's exposure limits it crosses. The gate says it in words (qc/checks.py, check_exposure);
grading's first pass on a line people work asks the same question before a retoucher gets the photo
(tasks/operations.py, grade_image): one measure for both."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from config.line import QcGateSpec
from tasks.pixels.colour import luma


def levels(display: np.ndarray) -> tuple[float, float]:
    """The mean level (luma, 0..1) and the share of clipped pixels: blown (every channel at the top, pure white)
    or crushed (every channel at the bottom)."""
    sample = np.ascontiguousarray(display[::2, ::2])    # every other pixel; copied, numpy's reductions across
    red, green, blue = cv2.split(sample)                 # the channels of a strided view were 4x slower (24 MP)
    lowest, highest = cv2.min(cv2.min(red, green), blue), cv2.max(cv2.max(red, green), blue)
    clipped = np.count_nonzero((lowest >= 0.99) | (highest <= 1 / 255)) / lowest.size
    return float(luma(sample).mean()), float(clipped)


@dataclass(frozen=True)
class Verdict:
    """Which of the gate's exposure limits a picture crosses, with its measures."""
    mean: float
    clipped: float                # of what the camera did not blow itself
    all_black: bool
    all_white: bool
    too_clipped: bool

    @property
    def fails(self) -> bool:
        return self.all_black or self.all_white or self.too_clipped


def judged(display: np.ndarray, spec: QcGateSpec, *, camera_blown: float = 0.0) -> Verdict:
    """``display`` against the gate's limits. ``camera_blown``: the share of the frame the camera blew itself, not
    counted as clipped nor in 'almost white' (no grading or retouch brings it back)."""
    mean, clipped = levels(display)
    rest = mean                   # 'almost white': the level of what the camera did not blow (that taken as white)
    if camera_blown > 0:
        rest = (mean - camera_blown) / (1.0 - camera_blown) if camera_blown < 0.98 else 0.0
        clipped = max(0.0, clipped - camera_blown)
    black = mean < spec.min_mean_luma
    return Verdict(mean=mean, clipped=clipped, all_black=black, all_white=not black and rest > spec.max_mean_luma,
                   too_clipped=clipped > spec.max_clipped_share)
