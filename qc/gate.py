"""The QC gate: automatic checks on each finished photo, then pass, or reject with the reason
and the stage blamed: the one that introduced the defect, found by comparing each stage's output with its input
(qc/blame.py). A rejected photo goes back to that stage as a new round while the
studio's rework allowance lasts; after that it is held for a person. When the line asks for a
human review, photos that pass the checks wait at the gate for the QC lead (qc/review.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import tifffile
from prefect import task
from prefect.logging import get_run_logger

from config.line import Line, get_line
from config.settings import get_settings
from presets.model import Preset
from qc import blame, checks
from qc.checks import GRADING_REASONS, Problem, Reason, check_image
from record import rounds, work
from record.db import transaction
from record.models import Photo, WorkItem
from tasks.calibration import calibrations
from tasks.runners import give_back_memory
from tasks.errors import as_retryable, retry_only_retryable, transient_cause
from tasks.files import sha256_of
from tasks.operations import camera_blown_share, reference_path
from tasks.pixels import imageio
from tasks.stages import give_back

ICC_TAG = 34675


def blamed_stage(problems: list[Problem], line: Line | None = None, made_by: str | None = None) -> str:
    """Where each problem came from: the stage that introduced it (qc/blame.py: the first stage whose output
    shows it; a lost look: the first whose output lost it), else, when no recorded output tells, grading for
    exposure and colour-cast defects and the stage that made the file for the rest (``made_by``; by default the
    last stage: grading for a photo the client did not choose, which skips the retouch stages). The earliest in
    the line is blamed: redoing it redoes the stages after it. ``line``: the order's line (default: the current
    line file's)."""
    keys = [spec.key for spec in (line or get_line()).stages]
    maker = made_by if made_by in keys else keys[-1]

    def origin(problem: Problem) -> str:
        if problem.stage in keys:
            return problem.stage
        return keys[0] if problem.reason in GRADING_REASONS else maker
    return min((origin(p) for p in problems), key=keys.index)


@dataclass(frozen=True)
class _Gate:
    """What every photo of one QC batch is checked with: the order's line, its preset and session calibration."""
    line: Line
    preset: Preset
    calibrated_from: Mapping[int, str] = field(default_factory=dict)   # photo id -> the chart its grading was
    # calibrated on (its camera body's: tasks.calibration.calibrations)

    @classmethod
    def of(cls, order_id: int) -> "_Gate":
        with transaction() as session:
            order = work.get_order(session, order_id)
            return cls(line=work.order_line(session, order_id), preset=Preset.model_validate_json(order.preset_json),
                       calibrated_from={photo: fit.source for photo, fit in calibrations(session, order).items()})


def _look_problem(display, photo: Photo, order_id: int, spec, line: Line,  # noqa: ANN001
                  grader: WorkItem | None) -> Problem | None:
    """The photo's look against its graded reference (written by grading, ``grader``'s; none for a photo graded
    before it existed or by hand: no verdict). When it is lost, each stage's recorded output is compared in line
    order and the first that shows it is blamed: a working master where one was written (people's stages, the end
    of an automatic run), else the stage's preview (tasks/stages.py: a fused stage records its output at the
    reference's size), which is all this comparison needs. ``line``: the order's."""
    stages = line.stages
    reference_file = reference_path(order_id, photo.id, grader.round) if grader else None
    if reference_file is None or not reference_file.exists():
        return None
    reference = imageio.read_working_tiff(reference_file)
    if checks.check_look(display, reference, spec) is None:
        return None
    with transaction() as session:
        outputs = [(spec_.key, work.final_output(session, photo.id, spec_.key)) for spec_ in stages]
    for key, item in outputs:
        try:
            output = imageio.read_working_tiff(item.output_path) if item and item.output_path else None
        except Exception:  # noqa: BLE001  - gone or not a working file: look at the next stage
            output = None
        if output is not None and (problem := checks.check_look(output, reference, spec, stage=key)) is not None:
            return problem
    return checks.check_look(display, reference, spec, stage=stages[-1].key)


def _makers(session, photo_id: int, line: Line) -> tuple[WorkItem | None, WorkItem | None]:  # noqa: ANN001
    """The work items that made the photo's finished file and its graded reference (its grading)."""
    return (work.finished_output(session, photo_id, [s.key for s in line.stages]),
            work.final_output(session, photo_id, line.stages[0].key))


def _inspect(item: WorkItem, photo: Photo, gate: _Gate | None = None,
             makers: tuple[WorkItem | None, WorkItem | None] | None = None) -> list[Problem]:
    """Read the file and what the record knows about it (the checksum its stage recorded, the version
    before it, the order's preset), and run the checks of ``qc.checks``. ``gate``: the batch's (default: read);
    ``makers``: :func:`_makers`, when the caller read them with its claim (default: read)."""
    gate = gate or _Gate.of(item.order_id)
    line, preset, calibrated_from = gate.line, gate.preset, gate.calibrated_from.get(photo.id)
    spec = line.qc_gate
    if makers is None:
        with transaction() as session:
            makers = _makers(session, photo.id, line)
    maker, grader = makers
    if maker is not None and maker.output_path != item.input_path:
        maker = None
    recorded = maker.output_sha256 if maker else None
    before = maker.input_path if maker else None
    try:
        display = imageio.read_working_tiff(item.input_path)
        with tifffile.TiffFile(item.input_path) as tif:
            tag = tif.pages[0].tags.get(ICC_TAG)
            icc = bytes(tag.value) if tag is not None else None
        actual = sha256_of(item.input_path)
    except Exception as exc:  # noqa: BLE001  - any decode failure of a damaged file is a finding, not a crash
        if transient_cause(exc) is not None:
            raise  # the disk's or the record's failure, not the file's: qc_batch stops and retries
        return [Problem(Reason.UNREADABLE, f"cannot be read back as a 16-bit RGB working TIFF ({type(exc).__name__}): "
                                           "damaged or replaced")]
    problems = [p for p in (checks.check_integrity(actual, recorded),
                            checks.check_icc(icc, imageio.srgb_icc(), spec)) if p]
    size = (photo.width, photo.height) if photo.width and photo.height else None
    crop = any(stage.allow_crop for stage in line.stages)
    tint = checks.preset_neutral_tint(preset)
    reference = reference_path(item.order_id, photo.id, grader.round) if grader else None
    problems += check_image(display, expected_size=None if crop else size, spec=spec,
                            expected_aspect=size[0] / size[1] if crop and size else None, neutral_tint=tint,
                            camera_blown=camera_blown_share(reference) if reference and reference.exists() else 0.0)
    look = _look_problem(display, photo, item.order_id, spec, line, grader)
    if look is not None and calibrated_from and look.stage == line.stages[0].key:
        look = replace(look, message=f"{look.message}; it was graded with the session calibration fitted on "
                                     f"{calibrated_from}: check it (`postline status {item.order_id}`)")
    if look is not None:
        problems.append(look)
    if before and before not in (item.input_path, photo.original_path):   # the original: no stage's version
        try:
            previous = imageio.read_working_tiff(before)
        except Exception:  # noqa: BLE001  - gone, or not a working file (a RAW): nothing to compare with
            previous = None
        if previous is not None:
            problems += [p for p in (checks.check_sharpness(display, previous, spec),
                                     checks.check_skin_texture(display, previous, spec)) if p]
    return blame.trace(problems, photo.id, line, spec, tint)


def _decide(item_id: int, problems: list[Problem], allowance: int, line: Line) -> str:
    with transaction() as session:
        item = session.get(WorkItem, item_id)
        if not problems and line.qc_gate.human_review:
            rounds.await_lead(session, item)
            return "awaiting"
        if not problems:
            rounds.pass_photo(session, item, actor=work.AUTO_WORKER)
            return "passed"
        name = session.get(Photo, item.photo_id).source_name
        reason = f"{name} " + "; ".join(p.message for p in problems)
        codes = ",".join(sorted({p.reason.value for p in problems}))
        maker = work.finished_output(session, item.photo_id, [spec.key for spec in line.stages])
        stage = blamed_stage(problems, line, maker.stage if maker and maker.output_path == item.input_path else None)
        if item.round <= allowance:
            rounds.send_back(session, item, stage=stage, actor=work.AUTO_WORKER, reason=f"[{codes}] {reason}")
            return "rework"
        rounds.hold(session, item, stage=stage, actor=work.AUTO_WORKER, reason=f"[{codes}] {reason}",
                    held_because=f"{reason}; still failing after {allowance} rework round(s): a QC lead must look")
        return "held"


@task(name="qc-batch", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def qc_batch(order_id: int, item_ids: list[int]) -> dict[str, int]:
    logger = get_run_logger()
    allowance = get_settings().max_rework_rounds
    counts = {"passed": 0, "rework": 0, "held": 0, "awaiting": 0, "skipped": 0}
    gate = None
    for item_id in item_ids:
        try:
            gate = gate or _Gate.of(order_id)      # read once, here: a failure of the record stops the batch as below
            with transaction() as session:         # the claim and what the checks need from the record, at once
                item = work.claim_queued(session, item_id)
                photo = session.get(Photo, item.photo_id) if item else None
                makers = _makers(session, item.photo_id, gate.line) if item else None
            if item is None:
                counts["skipped"] += 1
                continue
            problems = _inspect(item, photo, gate, makers)
            outcome = _decide(item_id, problems, allowance, gate.line)
        except Exception as exc:  # a failure of the disk or the record: the photo keeps its place, the batch stops
            stop = as_retryable(exc, order_id=order_id, folder=get_settings().work_dir / f"order-{order_id}")
            if stop is None:
                raise
            give_back([item_id], stop)
            logger.error("QC batch stopped: %s", stop)
            raise stop from exc
        counts[outcome] += 1
        if problems:
            logger.warning("QC %s: %s %s", outcome, photo.source_name, "; ".join(p.message for p in problems))
    logger.info("QC batch of %d: %s", len(item_ids), counts)
    give_back_memory()
    return counts
