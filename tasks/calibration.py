"""Session calibration: when the card holds a shot of a ColorChecker, fit a colour correction for that
camera and light (tasks/pixels/calibrate.py), record it with the order, and let grading apply it."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger

from config.settings import get_settings
from presets.model import Preset
from record import work
from record.db import transaction
from record.models import PhotoStatus
from tasks.errors import PhotoError
from tasks.pixels import calibrate
from tasks.pixels.decode import decode_linear16
from tasks.pixels.metadata import PhotoKind


def chart_candidates(photos, chart_name: str | None, limit: int) -> list:  # noqa: ANN001
    """The photo named as the chart shot, else the first ``limit`` RAW frames by capture time (a session's
    chart is usually shot first)."""
    if chart_name:
        return [p for p in photos if p.source_name == chart_name]
    raws = [p for p in photos if p.kind == PhotoKind.RAW.value]
    return sorted(raws, key=lambda p: (p.capture_time is None, p.capture_time, p.id))[:limit]


@task(name="calibrate-session")
def calibrate_session(order_id: int) -> str | None:
    """Find a chart among the order's first frames and record the fit; returns the chart's file name.
    Nothing to do when the order is already calibrated, or calibration is switched off."""
    logger = get_run_logger()
    settings = get_settings()
    with transaction() as session:
        order = work.get_order(session, order_id)
        if order.calibration_json or settings.chart_search == 0:
            return None
        preset = Preset.model_validate_json(order.preset_json)
        candidates = chart_candidates(work.photos(session, order_id, PhotoStatus.INGESTED), order.chart_photo,
                                      settings.chart_search)
    for photo in candidates:
        image = decode_linear16(Path(photo.original_path), preset.decode, half_size=True)
        try:
            result = calibrate.calibrate(image, photo.source_name)
        except PhotoError as exc:
            if order.chart_photo:
                logger.warning("%s", exc)
            continue
        if result.fit_mean_de >= result.uncalibrated_mean_de:
            logger.info("%s: the camera already matches the chart (mean dE00 %.2f); no session calibration needed",
                        photo.source_name, result.uncalibrated_mean_de)
            return None
        with transaction() as session:
            row = work.get_order(session, order_id)
            row.calibration_json = result.model_dump_json()
            session.add(row)
        logger.info("session calibration from %s: %d patches, mean dE00 %.2f -> %.2f", photo.source_name,
                    result.patches_found, result.uncalibrated_mean_de, result.fit_mean_de)
        return photo.source_name
    logger.info("no colour chart among the first %d frames: graded without session calibration", len(candidates))
    return None
