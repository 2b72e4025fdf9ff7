"""Session calibration: when the card holds a shot of a ColorChecker, fit a colour correction for that camera and
light (tasks/pixels/calibrate.py), record it with the order, and let grading apply it.

A detection is used only when ``tasks.pixels.chart_trust`` finds it is a chart and the correction safe; anything
else leaves the session uncalibrated, and the reason is recorded with the order (``postline status N``) and
logged. The frame used as the chart is set aside (status ``chart``: not graded, not delivered) unless the order
was created with ``--deliver-chart``.

The candidates are searched in capture order, as many at once as the order's photo threads (``POSTLINE_WORKERS``):
the order waits for the search before any photo is graded, and one frame's search left the other cores idle."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger
from sqlmodel import select

from config.settings import get_settings
from presets.model import Preset
from record import clocks, moves, work
from record.db import transaction
from record.models import CALIBRATION, Photo, PhotoStatus, WorkStatus
from tasks.errors import PhotoError
from tasks.pixels import calibrate
from tasks.pixels.decode import decode_linear16
from tasks.pixels.metadata import PhotoKind

CHART_FRAME_REASON = "colour chart frame, used for session calibration"
MAX_NOTED_REFUSALS = 3          # refused chart-like patterns named in the order's note (all are logged)
NOTE_LENGTH = 1000              # Order.calibration_note's column


def fits(order) -> tuple[calibrate.CalibrationResult, ...]:  # noqa: ANN001 - record.models.Order
    """The order's session calibrations, one a camera body whose chart was found: recorded as a list; an order
    recorded when a session had one calibration holds that one alone."""
    if not order.calibration_json:
        return ()
    data = json.loads(order.calibration_json)
    return tuple(calibrate.CalibrationResult.model_validate(one) for one in (data if isinstance(data, list) else [data]))


def calibrations(session, order) -> dict[int, calibrate.CalibrationResult]:  # noqa: ANN001 - Session, Order
    """Photo id -> the calibration that applies to it: the one fitted on the chart its own camera body shot (as
    record.clocks names it: make, model and serial number when the files give one). A chart's fit corrects that
    camera's sensor under that light; a body whose chart was not found is graded without any, as with no chart."""
    by_body = {}
    for fit, chart in chart_photos(session, order):
        if chart is not None:
            by_body.setdefault(clocks.camera_of(chart), fit)
    if not by_body:
        return {}
    columns = (Photo.id, Photo.camera_make, Photo.camera_model, Photo.camera_serial)
    rows = session.exec(select(*columns).where(Photo.order_id == order.id)).all()
    return {row[0]: by_body[body] for row in rows if (body := clocks.camera_named(*row[1:])) in by_body}


def chart_photos(session, order) -> list[tuple[calibrate.CalibrationResult, Photo | None]]:  # noqa: ANN001
    """Each calibration of the order with the photo it was fitted on: by its name on the card; in an order
    recorded when the calibration kept the file name alone, the one photo of that file name (None when two
    folders of the card hold one: then which is not known)."""
    found = fits(order)
    if not found:
        return []
    photos = session.exec(select(Photo).where(Photo.order_id == order.id)).all()

    def chart(source: str) -> Photo | None:
        exact = [p for p in photos if p.source_name == source]
        alone = [p for p in photos if Path(p.source_name).name == source]
        named = exact or alone
        return named[0] if len(named) == 1 else None
    return [(fit, chart(fit.source)) for fit in found]


def chart_candidates(photos, chart_name: str | None, limit: int) -> list:  # noqa: ANN001
    """The photo named as the chart shot, else the first ``limit`` RAW frames by capture time (a session's
    chart is usually shot first)."""
    if chart_name:
        return [p for p in photos if p.source_name == chart_name]
    raws = [p for p in photos if p.kind == PhotoKind.RAW.value]
    return sorted(raws, key=lambda p: (p.capture_time is None, p.capture_time, p.id))[:limit]


def candidates_by_body(photos, chart_name: str | None, limit: int) -> dict[str | None, list]:  # noqa: ANN001
    """:func:`chart_candidates` of each camera body (record.clocks.camera_of; None: frames that name none), in
    the order the bodies first shot: each photographer shoots their own chart, for their own camera."""
    bodies: dict[str | None, list] = {}
    for photo in sorted(photos, key=lambda p: (p.capture_time is None, p.capture_time, p.id)):
        bodies.setdefault(clocks.camera_of(photo), []).append(photo)
    found = {body: chart_candidates(shot, chart_name, limit) for body, shot in bodies.items()}
    return {body: candidates for body, candidates in found.items() if candidates}


def search_charts(photos, preset: Preset, at_once: int) -> Iterator[tuple]:  # noqa: ANN001
    """Each photo's session calibration (``calibrate.calibrate`` on its half-size decode), in the order given:
    ``(photo, result)``, where a frame with no chart, a refused chart or a frame that does not decode gives its
    exception (ChartRejected, PhotoError) as the result. Up to ``at_once`` frames are searched ahead of the
    one given; when the caller stops (a chart found), the frames not started are not searched."""
    def search(photo) -> calibrate.CalibrationResult | Exception:  # noqa: ANN001
        try:
            image = decode_linear16(Path(photo.original_path), preset.decode, half_size=True)
            return calibrate.calibrate(image, photo.source_name)
        except (calibrate.ChartRejected, PhotoError) as exc:
            return exc

    waiting = iter(photos)
    with ThreadPoolExecutor(max(1, at_once), thread_name_prefix="chart-search") as pool:
        ahead = deque((photo, pool.submit(search, photo)) for photo in islice(waiting, max(1, at_once)))
        try:
            while ahead:
                photo, searched = ahead.popleft()
                result = searched.result()
                after = next(waiting, None)
                if after is not None:
                    ahead.append((after, pool.submit(search, after)))
                yield photo, result
        finally:
            for _, searched in ahead:
                searched.cancel()


def set_aside_chart_frame(session, photo: Photo, first_stage: str) -> None:  # noqa: ANN001
    """The chart frame leaves the line: its queued work is cancelled and it is marked ``chart``, with the reason
    the delivery's manifest gives (as a culled photo is)."""
    for item in work.items_in(session, photo.order_id, first_stage, WorkStatus.QUEUED):
        if item.photo_id == photo.id:
            moves.move_item(session, item, WorkStatus.CANCELLED, actor=work.AUTO_WORKER, reason=CHART_FRAME_REASON)
    moves.move_photo(session, photo, PhotoStatus.CHART, stage=CALIBRATION, actor=work.AUTO_WORKER,
                     reason=CHART_FRAME_REASON)


def _record(order_id: int, *, note: str | None, results: list[calibrate.CalibrationResult] = (),
            charts: list[Photo] = ()) -> None:
    """The decision, in one transaction: the fits (one a camera body) or why there is none, and the chart frames
    set aside."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        order.calibration_json = json.dumps([r.model_dump(mode="json") for r in results]) if results else None
        order.calibration_note = note
        session.add(order)
        first = work.order_line(session, order_id).stages[0].key
        for chart in () if order.deliver_chart else charts:
            photo = session.get(Photo, chart.id)
            if photo.status is PhotoStatus.INGESTED:
                set_aside_chart_frame(session, photo, first)


def _refusals_note(refused: list[calibrate.ChartRejected]) -> str:
    """Why each refused pattern was refused, within the note's length (the run's log has every word)."""
    shown = "; ".join(f"{exc.source}: " + ", ".join(d.message for d in exc.doubts)
                      for exc in refused[:MAX_NOTED_REFUSALS])
    more = f" (and {len(refused) - MAX_NOTED_REFUSALS} more)" if len(refused) > MAX_NOTED_REFUSALS else ""
    note = f"a chart-like pattern was refused, so nothing was changed: {shown}{more}"
    if len(note) > NOTE_LENGTH:
        note = note[:NOTE_LENGTH - 30].rstrip() + "... (the run's log has it all)"
    return note


def _search_body(candidates: list, preset: Preset, at_once: int, named: str | None,
                 logger) -> tuple[calibrate.CalibrationResult | None, Photo | None, str | None]:  # noqa: ANN001
    """One camera body's chart among its ``candidates``: (the fit, its chart frame, None); (None, the chart frame,
    why) for a chart with nothing to correct; (None, None, why) when none was found or every one was refused."""
    refused: list[calibrate.ChartRejected] = []
    for photo, result in search_charts(candidates, preset, at_once):
        if isinstance(result, calibrate.ChartRejected):
            if result.is_chart:
                return None, photo, (f"{result.source} is a colour chart, but {result.doubts[0].message}: nothing "
                                     "to correct")
            logger.warning("session calibration: %s", result)
            refused.append(result)
            continue
        if isinstance(result, PhotoError):          # no chart-like pattern, or a frame that does not decode
            if named:
                logger.warning("session calibration: %s", result)
            continue
        return result.model_copy(update={"source": photo.source_name}), photo, None   # its name on the card
    first = "the first frame" if len(candidates) == 1 else f"the first {len(candidates)} frames"
    where = f"the chart named with --chart, {named}" if named else first
    return None, None, _refusals_note(refused) if refused else f"no colour chart found in {where}"


@task(name="calibrate-session")
def calibrate_session(order_id: int) -> str | None:
    """Find a chart among each camera body's first frames (each photographer shoots their own) and record each
    body's fit, or why there is none; returns the charts' file names when the session is calibrated. Nothing to
    do when the order was decided on before."""
    logger = get_run_logger()
    settings = get_settings()
    with transaction() as session:
        order = work.get_order(session, order_id)
        if order.calibration_json or order.calibration_note:
            return None
        preset = Preset.model_validate_json(order.preset_json)
        named = order.chart_photo
        in_the_shoot = [p for p in work.photos(session, order_id)       # a chart frame culled in the review (no
                        if p.status in (PhotoStatus.INGESTED, PhotoStatus.CULLED)]   # pick) still calibrates
        bodies = candidates_by_body(in_the_shoot, named, settings.chart_search)
    if settings.chart_search == 0:
        _record(order_id, note="switched off (POSTLINE_CHART_SEARCH=0)")
        logger.info("session calibration: none (switched off, POSTLINE_CHART_SEARCH=0)")
        return None
    fitted, charts, notes = [], [], []
    for body, candidates in (bodies or {None: []}).items():
        fit, chart, why = _search_body(candidates, preset, settings.workers, named, logger)
        charts += [chart] if chart is not None else []
        if fit is None:
            notes.append(why if len(bodies) < 2 else f"{body or 'the frames that name no camera'}: {why}")
            continue
        fitted.append(fit)
        logger.info("session calibration from %s: %d patches, mean dE00 %.2f -> %.2f%s", fit.source,
                    fit.patches_found, fit.uncalibrated_mean_de, fit.fit_mean_de,
                    "" if order.deliver_chart else f"; {fit.source} set aside ({CHART_FRAME_REASON})")
    note = "; ".join(notes) or None
    if note is not None and len(note) > NOTE_LENGTH:
        note = note[:NOTE_LENGTH - 30].rstrip() + "... (the run's log has it all)"
    _record(order_id, note=note, results=fitted, charts=charts)
    if note is not None:
        (logger.warning if "refused" in note or named else logger.info)(
            "session calibration: %s%s", "" if fitted else "none: ", note + ("" if fitted else "; graded without it"))
    return ", ".join(fit.source for fit in fitted) or None
