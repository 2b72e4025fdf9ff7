"""QC sees a ruined look: each photo against its graded reference (the preset's look alone, made at grading), a
collapse or shift of colour, saturation or tone rejected as `look_lost` and blamed on the first stage whose output
shows it; legitimate retouch and real calibrations pass."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from config.line import QcGateSpec
from presets.model import OutputSpace, load_preset
from qc import checks
from record import people, work
from record.db import transaction
from record.models import QC_GATE, EventKind, PhotoStatus
from tasks.operations import graded_reference
from tasks.pixels import calibrate, detail, dodgeburn, finish, imageio, look, skin
from tasks.pixels.calibrate import CalibrationModel, CalibrationResult
from tasks.pixels.colourchecker import ChartSource
from tasks.pixels.decode import decode_linear16
from tasks.synthetic import write_card
from tests.conftest import sample
from tests.flowkit import MANUAL_SKIN_LINE, wait_until_paused

SPEC = QcGateSpec()
NEAR_GREY = 0.2 * np.eye(3) + 0.8 * np.ones((3, 3)) / 3           # what the false chart did: colours gone


def graded(path, preset_name: str = "classic-portrait", calibration=None) -> tuple[np.ndarray, np.ndarray]:
    """(the graded display image, its graded reference) as the grade operation makes them."""
    preset = load_preset(preset_name)
    image16 = decode_linear16(path, preset.decode, half_size=True)
    display = look.apply(image16, look.bake(preset, calibration=calibration, space=OutputSpace.SRGB,
                                            output_sharpening=False), dtype=np.float32)
    return display, graded_reference(image16, preset)


@pytest.fixture(scope="module")
def g2_calibration() -> np.ndarray:
    image = decode_linear16(sample("canon_powershot_g2.crw"), load_preset("neutral").decode, half_size=True)
    return calibrate.calibrate(image, "canon_powershot_g2.crw").array()


def test_retouch_and_a_real_calibration_keep_the_look(g2_calibration):
    """A real session calibration (the G2 chart's, on the session's other frame) and every automatic retouch
    pass, on a real camera file."""
    display, reference = graded(sample("canon_powershot_g2_b.crw"), calibration=g2_calibration)
    assert checks.check_look(display, reference, SPEC) is None
    for retouch in (skin.apply, detail.apply, finish.apply, dodgeburn.apply, skin.apply_skin_tones):
        assert checks.check_look(retouch(display), reference, SPEC) is None, retouch.__module__
    shift = checks.look_shift(finish.apply(detail.apply(skin.apply(display))), reference)
    print(f"\ng2_b calibrated and retouched: {shift}")
    assert 0.9 < shift.chroma_ratio < 1.4 and shift.hue_shift < 0.6 * SPEC.max_look_hue_shift


@pytest.mark.parametrize("name, matrix, words", [
    ("near grey", NEAR_GREY, "faded"),
    ("channels swapped", np.array([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]]), "hues turned"),
    ("two stops under", np.eye(3) * 0.25, "darker"),
])
def test_a_ruined_look_is_rejected_with_the_reason_and_the_stage(name, matrix, words):
    display, reference = graded(sample("canon_powershot_s40.crw"), calibration=matrix)
    problem = checks.check_look(display, reference, SPEC, stage="cull_grade")
    assert problem is not None and problem.reason is checks.Reason.LOOK_LOST and problem.stage == "cull_grade"
    assert words in problem.message and problem.message.startswith("lost its graded look: ")


def test_a_crop_is_judged_on_the_whole_frame_statistics():
    display, reference = graded(sample("nikon_d1.nef"))
    h, w = display.shape[:2]
    cropped = display[:, w // 10: w - w // 10]                                # another aspect: no per-pixel hue
    assert np.isnan(checks.look_shift(cropped, reference).hue_shift)
    assert checks.check_look(cropped, reference, SPEC) is None
    greyed = cropped.mean(axis=2, keepdims=True) * 0.8 + cropped * 0.2
    assert checks.check_look(greyed, reference, SPEC).reason is checks.Reason.LOOK_LOST


def _card(tmp_path, n: int = 3):
    return write_card(tmp_path / "card", n, first_seed=3)


def test_a_forced_bad_calibration_is_caught_by_qc_and_blamed_on_grading(prefect_api, home, tmp_path, monkeypatch):
    """The issue's failure with the chart check bypassed: a destructive matrix recorded as the order's calibration.
    QC rejects every photo for its lost look and sends it back to grading; none is passed or delivered."""
    from flows.order import order_flow
    from surfaces.actions.orders import create_order
    from tasks.deliver import NothingDelivered

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    order = create_order(client="Ruined", shoot="portrait", card=_card(tmp_path), preset_name=None, due=None)
    bad = CalibrationResult(source="DSC_0001.dng", model=CalibrationModel.MATRIX, matrix=NEAR_GREY.tolist(),
                            found_by=ChartSource.DETECTOR, patches_found=24, patches_used=24, exposure_normalised=True,
                            uncalibrated_mean_de=29.2, uncalibrated_max_de=60, fit_mean_de=28.8, fit_max_de=55)
    with transaction() as session:
        row = work.get_order(session, order.id)
        row.calibration_json = bad.model_dump_json()
        session.add(row)
    with pytest.raises(NothingDelivered):                                       # the run says so, no package written
        order_flow(order.id)

    with transaction() as session:
        photos = work.photos(session, order.id)
        rejections = [e for e in work.events(session, order.id) if e.stage == QC_GATE and e.kind is EventKind.REJECTED]
    assert {p.status for p in photos} == {PhotoStatus.HELD}                   # none passed, none delivered
    assert len(rejections) == 2 * len(photos)                                 # first pass and the rework round
    for event in rejections:
        assert event.reason.startswith("[look_lost] ") and event.blamed_stage == "cull_grade"
        assert "faded to" in event.reason and "session calibration fitted on DSC_0001.dng" in event.reason


# --- a look lost at a later stage: blamed there ----------------------------------------------------------------
def _hand_back(folder, *, ruin: str | None) -> list[str]:
    """The retoucher pulls every photo and hands it back: lightly edited, or greyed if it is ``ruin``."""
    from surfaces.actions.queue import hand_back as submit_work, pull_to_folder

    done = []
    while (pulled := pull_to_folder(person="rita", folder=folder)) is not None:
        item, path = pulled
        image = imageio.read_working_tiff(path)
        with transaction() as session:
            name = next(p.source_name for p in work.photos(session, item.order_id) if p.id == item.photo_id)
        edited = image.mean(axis=2, keepdims=True) * 0.85 + image * 0.15 if name == ruin else image * 0.98
        out = path.with_name(path.stem + "-done.tif")
        imageio.write_working_tiff(out, edited)
        submit_work(item_id=item.id, person="rita", file=out)
        done.append(name)
    return done


def test_a_look_lost_by_a_retoucher_is_blamed_on_their_stage(prefect_api, home, line_file, tmp_path, monkeypatch):
    from flows.order import order_flow
    from surfaces.actions.orders import create_order

    line_file(MANUAL_SKIN_LINE)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password="s3cret-pass")
    order_id = create_order(client="Faded", shoot="portrait", card=_card(tmp_path), preset_name=None, due=None).id
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("zip", order_flow(order_id)), daemon=True)
    runner.start()
    wait_until_paused(order_id, "liquify_skin", runner)
    assert len(_hand_back(tmp_path / "rita", ruin="DSC_0002.dng")) == 3
    wait_until_paused(order_id, "liquify_skin", runner)                          # round 2: the greyed photo, sent back
    assert _hand_back(tmp_path / "rita", ruin=None) == ["DSC_0002.dng"]
    runner.join(timeout=120)
    assert "zip" in result
    with transaction() as session:
        photos = work.photos(session, order_id)
        rejections = [e for e in work.events(session, order_id) if e.stage == QC_GATE and e.kind is EventKind.REJECTED]
    assert {p.status for p in photos} == {PhotoStatus.DELIVERED}
    assert [(e.blamed_stage, e.reason.split("]")[0] + "]") for e in rejections] == [("liquify_skin", "[look_lost]")]
    assert rejections[0].reason.startswith("[look_lost] DSC_0002.dng lost its graded look: its colours faded")
