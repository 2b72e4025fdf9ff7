"""Working files after delivery: kept for the revision window, then removed by the housekeeping flow (a real
Prefect flow run), originals and the delivery kept; `postline status` and `postline report` show what each order
holds on disk; a client revision after the removal re-runs the photo from its original, and the re-delivery
carries the other photos unchanged."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import select

from config.line import get_line
from config.settings import get_settings
from flows.housekeeping import housekeeping_flow
from flows.order import order_flow
from record import work
from record.db import transaction
from record.models import EventKind, PhotoStatus, StageEvent
from surfaces.actions import client as client_actions
from surfaces.actions.orders import create_order
from surfaces.cli import main
from tasks.files import remove_files
from tasks.synthetic import DngMeta, render_scene, write_dng
from tests.flowkit import Delivery, sha256

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
    assert shown["working"] != "0 B" and shown["kept"] == "kept 30 days after delivery"
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
