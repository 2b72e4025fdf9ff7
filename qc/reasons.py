"""The reasons a person gives at a gate, as the studio counts them: the QC lead's for sending a photo back
(:class:`ReviewReason`, qc/review.py) and the senior photographer's for culling an original (:class:`CullReason`,
qc/originals.py). Here, with nothing else, so the command line lists them without loading the gates."""

from __future__ import annotations

from enum import StrEnum


class ReviewReason(StrEnum):
    """Why a QC lead sends a photo back: the studio's taxonomy, counted in the monthly rework report."""
    OVER_SMOOTHED_SKIN = "over_smoothed_skin"
    LIQUIFY_DISTORTION = "liquify_distortion"
    COLOUR_CAST = "colour_cast"
    EXPOSURE = "exposure"
    CROP = "crop"
    DUST_BLEMISH_MISSED = "dust_blemish_missed"
    LAYOUT = "layout"
    OTHER = "other"


class CullReason(StrEnum):
    BLURRED = "blurred"
    EYES_CLOSED = "eyes_closed"
    DUPLICATE_POSE = "duplicate_pose"
    EXPOSURE = "exposure"
    COMPOSITION = "composition"
    REJECTED_BY_PHOTOGRAPHER = "rejected_by_photographer"    # their reject flag, or a reject label (record.ratings)
    NOT_PICKED = "not_picked"                                # not among the photographer's picks
    OTHER = "other"
