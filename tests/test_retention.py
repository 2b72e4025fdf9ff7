"""Working files after delivery: kept for the revision window, then removed by the housekeeping flow (a real
Prefect flow run), originals and the delivery kept; `postline status` and `postline report` show what each order
holds on disk; a client revision after the removal re-runs the photo from its original (an automatic line) or
goes on from the retouchers' kept hand-backs (a line people work), and the re-delivery carries the other photos
unchanged."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlmodel import select

from config.line import get_line
from config.settings import get_settings
from flows.housekeeping import housekeeping_flow
from flows.order import order_flow
from record import work
from record.db import transaction
from record.models import EventKind, PhotoStatus, StageEvent, WorkItem, utcnow
from surfaces.actions import client as client_actions
from surfaces.actions.orders import create_order
from surfaces.cli import main
from tasks.files import remove_files
from tasks.synthetic import DngMeta, render_scene, write_dng
from tests.flowkit import MANUAL_SKIN_LINE, Delivery, sha256

STAGES = {"cull_grade", "liquify_skin", "fine_retouch", "design_layout"}


def _cli(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


def _disk(text: str) -> dict[str, str]:
    found = re.search(r"Disk: (.+?) working files \((.+?)\), (.+?) originals, (.+?) deliveries", text)
    assert found, text
    return dict(zip(("working", "kept", "originals", "deliveries"), found.groups()))


def test_working_files_go_after_the_revision_window_and_a_late_revision_reruns_from_the_original(
        home, prefect_api, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    get_line.cache_clear()
    card = tmp_path / "card"
    card.mkdir()
    for i, kind in enumerate(("portrait", "landscape")):
        write_dng(card / f"DSC_{i + 1:04d}.dng", render_scene(kind, 400, 300, seed=i + 21), DngMeta())
    order_id = create_order(client="Kept", shoot="wedding", card=card, preset_name=None, due=None).id
    first = Path(order_flow(order_id))
    work_folder = get_settings().work_dir / f"order-{order_id}"
    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        kept_final = work.final_output(session, photos["DSC_0001.dng"].id, "design_layout")

    shown = _disk(_cli("status", str(order_id)))
    assert shown["working"] != "0 B" and shown["kept"] == \
        f"kept until {utcnow() + timedelta(days=30):%Y-%m-%d}, 30 days after its last delivery"
    assert shown["deliveries"] != "0 B" and shown["originals"] != "0 B"

    assert housekeeping_flow() == {"claims_returned": 0, "orders_cleaned": 0}     # still in the revision window
    assert any(work_folder.rglob("*-preview.tif"))                                # kept for the window
    assert not Path(kept_final.output_path).exists()    # an automatic photo's finished file went at delivery
    gallery = client_actions.gallery_image(order_id, photos["DSC_0001.dng"].id)    # the gallery shows it still:
    with Image.open(gallery) as picture:                                              # the picture delivery made
        assert picture.format == "JPEG" and max(picture.size) == 400
    with transaction() as session:                                                # 31 days later
        for event in session.exec(select(StageEvent).where(StageEvent.order_id == order_id,
                                                           StageEvent.kind == EventKind.DELIVERED)).all():
            event.at = event.at - timedelta(days=31)
            session.add(event)
    assert housekeeping_flow() == {"claims_returned": 0, "orders_cleaned": 1}

    assert not work_folder.exists()                                     # working files gone, the rest kept
    for photo in photos.values():
        assert sha256(Path(photo.original_path)) == photo.sha256 == sha256(card / photo.source_name)
    assert Delivery(first).mismatches() == []
    shown = _disk(_cli("status", str(order_id)))
    assert shown["working"] == "0 B" and shown["kept"].startswith("removed ")
    assert shown["deliveries"] != "0 B" and shown["originals"] != "0 B"
    assert housekeeping_flow()["orders_cleaned"] == 0                             # nothing left to clean

    _cli("order", "revise", str(order_id), "--photo", "DSC_0002.dng:fine_retouch:warmer please")
    second = Path(order_flow(order_id))

    assert second != first and second.name.endswith("-rev1")                        # the revision's package
    assert _disk(_cli("status", str(order_id)))["kept"].startswith("kept until ")   # a new window (it said removed)
    delivery, before = Delivery(second), Delivery(first)
    assert delivery.mismatches() == [] and delivery.delivered_sources() == {"DSC_0001.dng", "DSC_0002.dng"}
    unchanged = delivery.entry("DSC_0001.dng", "full")
    assert unchanged["sha256"] == before.entry("DSC_0001.dng", "full")["sha256"]    # made again, bit for bit
    with transaction() as session:
        assert {p.status for p in work.photos(session, order_id)} == {PhotoStatus.DELIVERED}
        events = work.events(session, order_id)
        assert work.final_output(session, photos["DSC_0001.dng"].id, "design_layout").output_sha256 == \
            kept_final.output_sha256
    revised = next(e for e in events if e.kind is EventKind.REVISED)
    assert "runs the whole line again from its original" in revised.reason
    redone = {e.stage for e in events if e.kind is EventKind.SUBMITTED and e.id > revised.id}
    assert redone == STAGES                                               # from the original, through every stage
    report = _cli("report")
    assert "Disk per order" in report and re.search(rf"^\s*{order_id}\s+Kept\s+delivered", report, re.M)


def test_removing_files_several_at_a_time_frees_each_one_and_reports_the_first_failure_after_the_rest(tmp_path):
    """tasks.files.remove_files, as the delivery removes what can be had again: every file is removed and its
    bytes counted, one already gone is skipped; a path it cannot remove (a folder here) is raised, but only after
    every other path was tried."""
    files = []
    for index in range(40):
        path = tmp_path / f"photo-{index:02d}.jpg"
        path.write_bytes(b"x" * (index + 1))
        files.append(path)
    gone = tmp_path / "gone.tif"
    assert remove_files(files[:20] + [gone]) == sum(range(1, 21))
    assert not any(path.exists() for path in files[:20])

    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(IsADirectoryError):
        remove_files([folder] + files[20:])
    assert folder.is_dir() and not any(path.exists() for path in files[20:])


# Fine retouch worked by people too: two people's stages, the automatic finishing after them
TWO_PEOPLE_LINE = MANUAL_SKIN_LINE.replace('operation = "detail"', 'mode = "manual"')


def test_a_late_revision_goes_on_from_the_retouchers_kept_work_not_from_the_original(
        home, prefect_api, line_file, tmp_path, monkeypatch):
    """After the revision window, a client's change at Fine retouch re-ran the photo from its original: the
    retoucher got a file made again from it, without their earlier hand-back beside it (removed with the working
    files), and the delivery lost the retouch the client had paid for. The hand-backs of people's stages are kept
    with the finished files; the change goes back to that stage, from the hand-back of the stage before it, with
    the retoucher's own round beside it."""
    import threading

    from record import people
    from surfaces.actions.queue import hand_back, hand_back_beside, pull_to_folder
    from tasks.pixels import imageio
    from tests.flowkit import wait_until_paused

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    line_file(TWO_PEOPLE_LINE)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin,fine_retouch", password=None)
    card = tmp_path / "card"
    card.mkdir()
    for i, kind in enumerate(("portrait", "landscape")):
        write_dng(card / f"DSC_{i + 1:04d}.dng", render_scene(kind, 400, 300, seed=i + 21), DngMeta())
    order_id = create_order(client="Late Change", shoot="portrait", card=card, preset_name=None, due=None).id

    pulled_with_beside = []

    def run_through(stages: list[str]) -> Path:
        result: dict = {}
        runner = threading.Thread(target=lambda: result.setdefault("zip", order_flow(order_id)), daemon=True)
        runner.start()
        for stage in stages:
            wait_until_paused(order_id, stage, runner)
            while (pulled := pull_to_folder(person="rita", stage=stage, folder=tmp_path / "rita")) is not None:
                item, path = pulled
                beside = hand_back_beside(path)
                pulled_with_beside.append((item.stage, item.round, beside.exists()))
                image = imageio.read_working_tiff(beside if beside.exists() else path)
                image[20 + 40 * item.round:40 + 40 * item.round, 20:60] *= 0.8    # a mark each round, kept
                imageio.write_working_tiff(done := path.with_name(path.stem + "-done.tif"), image)
                hand_back(item_id=item.id, person="rita", file=done)
        runner.join(timeout=180)
        return Path(result["zip"])

    first = run_through(["liquify_skin", "fine_retouch"])
    with transaction() as session:
        photo = work.named(work.photos(session, order_id), "DSC_0002.dng")[0]
        retouched = work.final_output(session, photo.id, "fine_retouch")
        for event in session.exec(select(StageEvent).where(StageEvent.order_id == order_id,
                                                           StageEvent.kind == EventKind.DELIVERED)).all():
            event.at = event.at - timedelta(days=31)
            session.add(event)
    assert housekeeping_flow()["orders_cleaned"] == 1
    assert Path(retouched.output_path).exists()                        # a person's hand-back: kept
    references = get_settings().work_dir / f"order-{order_id}" / "reference"
    assert len(list(references.glob("*.tif"))) == 2                   # and QC's graded references (it judged a
                                                                       # late change without them)

    _cli("order", "revise", str(order_id), "--photo", "DSC_0002.dng:fine_retouch:a mark lower down please")
    second = run_through(["fine_retouch"])
    with transaction() as session:
        items = [i for i in session.exec(select(WorkItem).where(WorkItem.photo_id == photo.id)).all()]
        events = work.events(session, order_id)
    revised = next(e for e in events if e.kind is EventKind.REVISED)
    assert "whole line again" not in revised.reason, revised.reason
    assert pulled_with_beside[-1] == ("fine_retouch", 2, True)         # their own round 1 beside the file
    assert sorted((i.stage, i.round) for i in items if i.round > 1) == [("design_layout", 2), ("fine_retouch", 2),
                                                                        ("qc_gate", 2)]   # liquify not again
    redone = next(i for i in items if i.stage == "fine_retouch" and i.round == 2)
    handed = imageio.read_working_tiff(Path(redone.output_path))
    earlier = imageio.read_working_tiff(Path(retouched.output_path))
    assert np.array_equal(handed[20:100], earlier[20:100])            # round 1's marks (both stages') kept
    assert not np.allclose(handed[100:120, 20:60], earlier[100:120, 20:60])   # and the change made
    assert Delivery(second).mismatches() == [] and second != first


def test_a_file_copied_onto_the_card_after_delivery_is_not_slipped_into_a_revision(
        home, prefect_api, tmp_path, monkeypatch, caplog, capsys):
    """A ninth frame copied into the order's card folder after delivery: the next client revision's run took it
    and delivered it to the client with the change, unseen by anyone. A revision's run takes no file that was not
    on the card when the order was made, and its log says so and what to do. Two changes asked for before the
    next delivery are one revision round (they were counted as two, and the package named "-rev2")."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    get_line.cache_clear()
    card = tmp_path / "card"
    card.mkdir()
    for i, kind in enumerate(("portrait", "landscape")):
        write_dng(card / f"DSC_{i + 1:04d}.dng", render_scene(kind, 300, 200, seed=i + 31), DngMeta())
    order_id = create_order(client="Late Frame", shoot="portrait", card=card, preset_name=None, due=None).id
    first = Delivery(Path(order_flow(order_id)))
    assert main(["order", "due", str(order_id), "2026-12-05"]) == 2      # moved after delivery: no lateness left
    assert f"order {order_id} is delivered: its due date is what the report measured" in capsys.readouterr().err
    write_dng(card / "DSC_0009.dng", render_scene("interior", 300, 200, seed=39), DngMeta())
    assert "client revision round 1," in _cli("order", "revise", str(order_id), "--photo",
                                              "DSC_0002.dng:fine_retouch:warmer please")
    assert "client revision round 1," in _cli("order", "revise", str(order_id), "--photo",   # the same round: both
                                              "DSC_0001.dng:fine_retouch:a touch cooler")   # delivered at once
    assert main(["order", "revise", str(order_id), "--photo", "DSC_0002.dng:fine_retouch:and brighter"]) == 2
    assert "DSC_0002.dng is in the line, not delivered yet" in capsys.readouterr().err
    package = Path(order_flow(order_id))
    assert package.name.endswith("-rev1")                      # one round, one package (it was round 2, "-rev2")
    second = Delivery(package)
    assert second.mismatches() == []
    assert second.delivered_sources() == first.delivered_sources() == {"DSC_0001.dng", "DSC_0002.dng"}
    with transaction() as session:
        assert "DSC_0009.dng" not in work.known_sources(session, order_id)
        assert work.get_order(session, order_id).revisions == 1
    assert "1 file(s) came onto the card folder" in caplog.text and "(DSC_0009.dng): not taken" in caplog.text


def test_a_late_change_at_an_assisted_stage_runs_again_from_the_original(tmp_path):
    """An assisted stage's late change stayed there, from its prepared file: removed with the working files, and a
    round starting from the same input is not prepared again, so every pull failed ("cannot copy the working
    file") and the run waited for nothing. It re-runs from the original; a manual stage goes on."""
    from config.line import load_line
    from record.rounds import _goes_on_from_kept

    path = tmp_path / "line.toml"
    path.write_text('[[stages]]\nkey = "cull_grade"\ntitle = "Cull & grade"\noperation = "grade"\n\n'
                    '[[stages]]\nkey = "liquify_skin"\ntitle = "Liquify & skin"\noperation = "skin"\n'
                    'mode = "assisted"\n\n[[stages]]\nkey = "fine_retouch"\ntitle = "Fine retouch"\nmode = "manual"\n')
    line = load_line(path)
    assert not _goes_on_from_kept(None, line, 1, "liquify_skin")        # no record read: decided by the line
    assert not _goes_on_from_kept(None, line, 1, "cull_grade")          # no people's stage at or before it
