"""Automatic QC checks of a finished photo. Pure: an image (display space) in, problems out.

Each problem carries a reason code from the studio's taxonomy, a sentence for people,
and the stage blamed, so a rejection can go back where the defect came from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from config.line import QcGateSpec
from tasks.pixels.colour import luma


class Reason(StrEnum):
    UNREADABLE = "unreadable"
    DIMENSIONS = "dimensions"
    ALL_BLACK = "all_black"
    ALL_WHITE = "all_white"
    CLIPPING = "clipping"


# Which kind of stage a defect goes back to: exposure problems to grading, the rest to whoever made the file.
EXPOSURE_REASONS = frozenset({Reason.ALL_BLACK, Reason.ALL_WHITE, Reason.CLIPPING})


@dataclass(frozen=True)
class Problem:
    reason: Reason
    message: str


def check_image(display: np.ndarray, *, expected_size: tuple[int, int] | None, spec: QcGateSpec) -> list[Problem]:
    """``expected_size`` is (width, height) as the photo is viewed."""
    problems: list[Problem] = []
    height, width = display.shape[:2]
    if expected_size is not None and (width, height) != tuple(expected_size):
        problems.append(Problem(Reason.DIMENSIONS,
                                f"is {width}x{height} px, expected {expected_size[0]}x{expected_size[1]}"))
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
    return problems
