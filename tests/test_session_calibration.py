"""Session calibration in an order: the card holds a real ColorChecker shot; postline finds it, checks it is a chart
and the correction safe, records the fit with the order, grades the session with it, and sets the chart frame aside
(delivered only when asked with --deliver-chart)."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from record import work
from record.db import transaction
from record.models import CALIBRATION, EventKind, PhotoStatus, WorkStatus
from tasks.calibration import CHART_FRAME_REASON, fits
from tasks.pixels import chart_trust
from tests.conftest import sample
from tests.flowkit import Delivery, cli, run_order


@pytest.fixture
def card(tmp_path):
    card = tmp_path / "card"
    card.mkdir()
    shutil.copy(sample("canon_powershot_s40.crw"), card / "CRW_0119.CRW")      # no chart
    shutil.copy(sample("canon_powershot_g2.crw"), card / "CRW_0304.CRW")       # a real ColorChecker shot
    return card


def status_of(order_id: int) -> str:
    code, out = cli("status", str(order_id))
    assert code == 0
    return out


def test_a_chart_on_the_card_calibrates_the_order_and_is_set_aside(prefect_api, home, card, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    order_id, package = run_order(card, client="Calibrated")

    with transaction() as session:
        order = work.get_order(session, order_id)
        chart = next(p for p in work.photos(session, order_id) if p.source_name == "CRW_0304.CRW")
        chart_events = [e for e in work.events(session, order_id) if e.photo_id == chart.id]
        chart_items = [i for i in work.items_in(session, order_id, "cull_grade", WorkStatus.CANCELLED)]
    result = fits(order)[0]
    assert result.source == "CRW_0304.CRW" and result.patches_found == 24
    assert result.fit_mean_de < result.uncalibrated_mean_de
    assert order.calibration_note == "Canon PowerShot S40: no colour chart found in the first frame"   # the other body
    # The chart frame: set aside with its event, its queued grading cancelled, listed as not delivered.
    assert chart.status is PhotoStatus.CHART and chart.reason == CHART_FRAME_REASON
    assert [e.kind for e in chart_events if e.stage == CALIBRATION] == [EventKind.SET_ASIDE]
    assert [i.photo_id for i in chart_items] == [chart.id]
    delivery = Delivery(package)
    assert delivery.delivered_sources() == {"CRW_0119.CRW"}
    assert delivery.manifest["not_delivered"] == [{"source_name": "CRW_0304.CRW", "source_sha256": chart.sha256,
                                                   "status": "chart", "reason": CHART_FRAME_REASON}]
    printed = status_of(order_id)
    assert "Session calibration: CRW_0304.CRW, 24 patches, mean dE00" in printed
    assert "the chart frame is set aside, not delivered" in printed
    assert "Why not the others: Canon PowerShot S40: no colour chart found in the first frame" in printed
    assert f"[chart] CRW_0304.CRW: {CHART_FRAME_REASON}" in printed


def test_deliver_chart_keeps_the_chart_frame_in_the_line(prefect_api, home, card, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    order_id, package = run_order(card, client="Chart too", deliver_chart=True)
    with transaction() as session:
        order = work.get_order(session, order_id)
    assert fits(order)[0].source == "CRW_0304.CRW"
    delivery = Delivery(package)
    assert delivery.delivered_sources() == {"CRW_0119.CRW", "CRW_0304.CRW"}
    assert delivery.manifest["not_delivered"] == []
    assert "the chart frame is delivered (--deliver-chart)" in status_of(order_id)


@pytest.mark.parametrize("name", ["canon_powershot_g2.crw", "canon_powershot_s40_b.crw"])
def test_the_accepted_real_calibrations_pass_the_plausibility_checks_with_margin(name):
    """What the real charts' fits do to colours, measured against the bounds (and the 3x3 alike)."""
    from presets.model import load_preset
    from tasks.pixels import calibrate, colourchecker
    from tasks.pixels.decode import decode

    image = decode(sample(name), load_preset("classic-portrait").decode, half_size=True)
    measured = colourchecker.sample_patches(image, colourchecker.detect_chart(image))
    for model in calibrate.CalibrationModel:
        matrix = calibrate.calibrate(image, name, model=model).array()
        assert chart_trust.judge_correction(matrix, measured) == []
        m = chart_trust.measure_correction(matrix, measured)
        print(f"\n{name} {model.value}: {m}")
        assert m.white_shift < 0.6 * chart_trust.MAX_WHITE_SHIFT
        assert 1.0 < m.chroma_ratio < 0.7 * chart_trust.CORRECTION_CHROMA_RANGE[1]      # no loss of chroma
        assert m.hue_turn < 0.6 * chart_trust.MAX_HUE_TURN and m.mean_hue_turn < 0.4 * chart_trust.MAX_MEAN_HUE_TURN
        assert m.grey_chroma < 0.5 * chart_trust.MAX_GREY_CHROMA                          # greys come out grey
        assert m.determinant > 0 and m.condition < 0.3 * chart_trust.MAX_CONDITION
        corrected = calibrate.transform(np.full((1, 3), 0.18), matrix)[0]
        white = chart_trust.white_point(matrix)
        assert np.allclose(corrected / corrected.sum(), white / white.sum(), atol=1e-6)  # every grey alike


def test_order_create_takes_deliver_chart(home, card):
    def create(*extra: str) -> int:
        code, out = cli("order", "create", "--client", "Flagged", "--shoot", "wedding", "--from", str(card), *extra)
        assert code == 0
        return int(out.splitlines()[-1])                            # the id, alone on the last line

    flagged, default = create("--deliver-chart"), create("--same-card")
    with transaction() as session:
        assert work.get_order(session, flagged).deliver_chart is True
        assert work.get_order(session, default).deliver_chart is False


def test_the_chart_search_looks_at_frames_two_at_a_time_in_capture_order_and_stops_at_the_chart(tmp_path, monkeypatch):
    """The search runs ahead on the order's photo threads, but answers frame by frame in the order given, a bad
    frame's error among them, and frames it had not started when the chart was found are never decoded."""
    from types import SimpleNamespace

    from presets.model import load_preset
    from tasks import calibration
    from tasks.errors import PhotoError
    from tasks.pixels import calibrate

    broken = tmp_path / "IMG_0002.CR2"
    broken.write_bytes(b"not a raw file")
    frames = [("IMG_0001.CRW", sample("canon_powershot_s40.crw")), ("IMG_0002.CR2", broken),
              ("IMG_0003.CRW", sample("canon_powershot_g2.crw"))]
    frames += [(f"IMG_{n:04d}.CRW", sample("canon_powershot_s40.crw")) for n in range(4, 9)]
    photos = [SimpleNamespace(source_name=name, original_path=str(path)) for name, path in frames]
    searched, threads = [], set()
    real = calibrate.calibrate

    def noted(image, source):  # noqa: ANN001, ANN202 - the real search, and which frames it was given where
        searched.append(source)
        threads.add(threading.current_thread().name)
        return real(image, source)

    monkeypatch.setattr(calibrate, "calibrate", noted)
    answers = []
    for photo, result in calibration.search_charts(photos, load_preset("neutral"), at_once=2):
        answers.append((photo.source_name, type(result)))
        if isinstance(result, calibrate.CalibrationResult):
            break
    assert [name for name, _ in answers] == ["IMG_0001.CRW", "IMG_0002.CR2", "IMG_0003.CRW"]
    assert issubclass(answers[0][1], PhotoError) and issubclass(answers[1][1], PhotoError)
    assert answers[2][1] is calibrate.CalibrationResult
    # at most two frames ahead of the chart were started; the rest never were
    assert set(searched) <= {"IMG_0001.CRW", "IMG_0003.CRW", "IMG_0004.CRW", "IMG_0005.CRW"}
    assert {"IMG_0006.CRW", "IMG_0007.CRW", "IMG_0008.CRW"}.isdisjoint(searched)
    assert len(threads) == 2 and all(name.startswith("chart-search") for name in threads)


def test_a_chart_calibrates_only_the_camera_that_shot_it(prefect_api, home, card, monkeypatch):
    """Two bodies on one card, in a camera's folders as a real card has them: the G2's chart fits the G2's sensor;
    the S40's photo is graded without it (as if there were no chart), and `postline status` says so. (With the
    photos in a folder, the calibration named its chart by file name alone and applied to no photo at all.)"""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    shutil.copy(sample("canon_powershot_g2_b.crw"), card / "CRW_0305.CRW")      # the G2's next frame
    folder = card / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    for name in ("CRW_0119.CRW", "CRW_0304.CRW", "CRW_0305.CRW"):
        shutil.move(card / name, folder / name)
    order_id, package = run_order(card, client="Two bodies")
    from tasks.calibration import calibrations
    from tasks.stages import _Pass

    at = "DCIM/100CANON/"
    with transaction() as session:
        order = work.get_order(session, order_id)
        ids = {p.source_name: p.id for p in work.photos(session, order_id)}
        calibrated = set(calibrations(session, order))
    assert fits(order)[0].source == at + "CRW_0304.CRW"
    assert calibrated == {ids[at + "CRW_0304.CRW"], ids[at + "CRW_0305.CRW"]}
    fused = _Pass.of(order_id)
    first = fused.line.first
    assert fused.context(first, ids[at + "CRW_0305.CRW"], 1).calibration is not None
    assert fused.context(first, ids[at + "CRW_0119.CRW"], 1).calibration is None
    assert Delivery(package).delivered_sources() == {at + "CRW_0119.CRW", at + "CRW_0305.CRW"}
    printed = status_of(order_id)
    assert ("It applies to the Canon PowerShot G2's photos only: 1 photo(s) of another camera (Canon PowerShot S40) "
            "graded without it") in printed


def test_each_camera_body_is_calibrated_on_its_own_chart_and_both_chart_frames_are_set_aside(prefect_api, home, card,
                                                                                               monkeypatch):
    """Two photographers, each shooting a ColorChecker with their own body first: the first chart found calibrated
    its camera only, and the second body's chart frame was graded and delivered to the client as a photo."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    shutil.copy(sample("canon_powershot_g2_b.crw"), card / "CRW_0305.CRW")      # the G2's next frame
    shutil.copy(sample("canon_powershot_s40_b.crw"), card / "CRW_0118.CRW")     # the S40's own chart
    order_id, package = run_order(card, client="Two charts")
    from tasks.calibration import calibrations

    with transaction() as session:
        order = work.get_order(session, order_id)
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        applied = {name: fit.source for name, fit in
                   ((p.source_name, calibrations(session, order).get(p.id)) for p in photos.values()) if fit}
    assert sorted(fit.source for fit in fits(order)) == ["CRW_0118.CRW", "CRW_0304.CRW"]
    assert applied == {"CRW_0304.CRW": "CRW_0304.CRW", "CRW_0305.CRW": "CRW_0304.CRW",     # the G2's
                       "CRW_0118.CRW": "CRW_0118.CRW", "CRW_0119.CRW": "CRW_0118.CRW"}     # the S40's
    assert {photos[n].status for n in ("CRW_0304.CRW", "CRW_0118.CRW")} == {PhotoStatus.CHART}
    assert Delivery(package).delivered_sources() == {"CRW_0119.CRW", "CRW_0305.CRW"}
    printed = status_of(order_id)
    assert "Session calibration: CRW_0304.CRW (Canon PowerShot G2), 24 patches" in printed
    assert "Session calibration: CRW_0118.CRW (Canon PowerShot S40)" in printed and "graded without it" not in printed


def test_a_chart_frame_culled_in_the_review_still_calibrates(prefect_api, home, card, monkeypatch):
    """The photographer keeps only their picks (`review decide --only-picks`), and nobody rates the chart frame:
    it is culled with the rest, yet it still calibrates the session (it stays culled: not delivered either way)."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    from flows.ingest import ingest_flow
    from record import moves
    from record.models import Photo
    from surfaces.actions.orders import create_order
    from tasks.calibration import calibrate_session

    order = create_order(client="Picks only", shoot="portrait", card=card, preset_name=None, due=None)
    ingest_flow(order.id, str(card))
    with transaction() as session:
        chart = next(p for p in work.photos(session, order.id) if p.source_name == "CRW_0304.CRW")
        moves.move_photo(session, session.get(Photo, chart.id), PhotoStatus.CULLED, stage="review", actor="sam",
                         reason="not_picked")
    assert calibrate_session(order.id) == "CRW_0304.CRW"
    with transaction() as session:
        assert fits(work.get_order(session, order.id))[0].source \
            == "CRW_0304.CRW"
        assert session.get(Photo, chart.id).status is PhotoStatus.CULLED
