"""The senior photographer's review of the originals (a paused run that takes the same input the Prefect UI
form gives), and a client's revision round on a delivered order."""

from __future__ import annotations

import re
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from flows.order import order_flow
from record import work
from record.db import transaction
from record.models import ORIGINAL_REVIEW, EventKind, OrderStatus, PhotoStatus, WorkItem, WorkStatus
from surfaces.actions.orders import create_order
from surfaces.cli import main
from tests.flowkit import Delivery, wait_until_paused
from tasks.synthetic import write_card

LINE_WITH_REVIEW = (Path(__file__).resolve().parents[1] / "config" / "line.toml").read_text().replace(
    "[review_gate]\n# A senior photographer reviews the originals after ingest (approve, or cull with a reason) before any stage.\nenabled = false",
    "[review_gate]\nenabled = true")


def _card(folder: Path, n: int = 3) -> Path:
    return write_card(folder, n, size=(400, 300))


@pytest.fixture
def line_file(line_file, monkeypatch, home, prefect_api):
    """conftest's ``line_file``, with a fresh home and the session's Prefect server (runs that wait poll each 1 s)."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    return line_file


def test_senior_review_culls_a_frame_before_any_stage_works_on_it(line_file, tmp_path, capsys):
    assert "enabled = true" in LINE_WITH_REVIEW
    line_file(LINE_WITH_REVIEW)
    order_id = create_order(client="Mia", shoot="portrait", card=_card(tmp_path / "card"), preset_name=None, due=None).id
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("zip", order_flow(order_id)), daemon=True)
    runner.start()

    wait_until_paused(order_id, ORIGINAL_REVIEW, runner)
    with transaction() as session:  # nothing graded while the review is pending
        assert not [e for e in work.events(session, order_id) if e.kind is EventKind.SUBMITTED]
    assert main(["review", "decide", str(order_id), "--cull", "DSC_0002.dng:eyes_closed:she blinked",
                 "--as", "sergei"]) == 0
    assert "carries on" in capsys.readouterr().out
    runner.join(timeout=120)

    delivery = Delivery(Path(result["zip"]))
    assert delivery.delivered_sources() == {"DSC_0001.dng", "DSC_0003.dng"}
    with transaction() as session:
        culled = next(p for p in work.photos(session, order_id) if p.source_name == "DSC_0002.dng")
        items = session.exec(select(WorkItem).where(WorkItem.photo_id == culled.id)).all()
    assert culled.status is PhotoStatus.CULLED and "[eyes_closed]" in culled.reason and "sergei" in culled.reason
    assert [i.status for i in items] == [WorkStatus.CANCELLED]
    assert {n["source_name"] for n in delivery.manifest["not_delivered"]} == {"DSC_0002.dng"}


def test_client_revision_round_redoes_the_named_photo_and_is_counted(line_file, tmp_path, capsys):
    default_line = (Path(__file__).resolve().parents[1] / "config" / "line.toml").read_text()
    album_line = default_line.replace('key = "design_layout"\n', 'key = "design_layout"\nalbum = true\n', 1)
    assert album_line != default_line
    line_file(album_line)                                 # design & layout makes the album: spreads in each delivery
    order_id = create_order(client="Noah", shoot="children", card=_card(tmp_path / "card"), preset_name=None, due=None).id
    first = Path(order_flow(order_id))

    assert main(["order", "revise", str(order_id), "--photo", "DSC_0003.dng:fine_retouch:less contrast please"]) == 0
    with transaction() as session:
        assert work.get_order(session, order_id).status is OrderStatus.REVISION
    capsys.readouterr()
    assert main(["status", str(order_id)]) == 0
    assert (f"Next: The client asked for changes: `postline order run {order_id}` works them and makes the revised "
            "delivery.") in capsys.readouterr().out
    second = Path(order_flow(order_id))

    assert (first.name, second.name) == ("delivery", "delivery-rev1") and second.parent == first.parent
    assert Delivery(first).mismatches() == []                     # the first delivery stays as it was
    delivery = Delivery(second)
    assert delivery.mismatches() == [] and len(delivery.delivered_sources()) == 3
    assert delivery.manifest["revision"] == 1
    assert [s["path"] for s in delivery.manifest["sheets"] if s["kind"] == "album"] == ["album.pdf"]
    album = (second / "album.pdf").read_bytes()
    boxes = re.findall(rb"/MediaBox \[ ?0 0 ([\d.]+) ([\d.]+) ?\]", album)
    assert len(boxes) == 1                                      # 3 photos: one spread (hero-left), one page
    (width, height), = boxes                                    # 600 x 300 mm and 3 mm of bleed all round, in points
    assert (float(width), float(height)) == pytest.approx((606 / 25.4 * 72, 306 / 25.4 * 72), abs=0.5)
    assert b"/Width 7157" in album and b"/Height 3614" in album  # the spread's pixels at the recipe's 300 dpi
    with transaction() as session:
        events = work.events(session, order_id)
        assert all(p.status is PhotoStatus.DELIVERED for p in work.photos(session, order_id))
    revised = [e for e in events if e.kind is EventKind.REVISED]
    assert len(revised) == 1 and "less contrast" in revised[0].reason
    redone = Counter(e.stage for e in events if e.kind is EventKind.SUBMITTED and e.id > revised[0].id)
    assert redone == {"fine_retouch": 1, "design_layout": 1}   # grading and skin were not redone
    capsys.readouterr()
    assert main(["status", str(order_id)]) == 0
    assert "client revision rounds: 1" in capsys.readouterr().out
    assert main(["report"]) == 0
    assert "Client revision rounds: 1.00 per delivered order" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["order", "revise", str(order_id), "--photo", "nonsense"])
    assert main(["order", "revise", str(order_id), "--photo", "DSC_0009.dng:fine_retouch"]) == 2
    capsys.readouterr()
    assert main(["order", "revise", str(order_id), "--photo", "dsc_0002.DNG:fine_retouch",      # any case, as
                 "--photo", "DSC_0009.dng:fine_retouch", "--photo", "DSC_0001.dng:skin"]) == 2  # everywhere
    said = capsys.readouterr().err
    assert "no photo 'DSC_0009.dng' in this order (give its name on the card" in said
    assert "no stage skin (stages: cull_grade, liquify_skin, fine_retouch, design_layout)" in said
    assert "dsc_0002" not in said
    with transaction() as session:
        assert work.get_order(session, order_id).revisions == 1                    # refused whole: nothing asked
    assert main(["order", "revise", str(order_id), "--photo", "dsc_0002.DNG:fine_retouch:warmer"]) == 0
    with transaction() as session:
        photo = next(p for p in work.photos(session, order_id) if p.source_name == "DSC_0002.dng")
        assert photo.status is PhotoStatus.INGESTED and work.get_order(session, order_id).revisions == 2


def test_a_photo_qc_held_is_passed_by_a_lead_or_sent_back_a_round_not_left_out_for_good(home, prefect_api, tmp_path,
                                                                                          monkeypatch):
    """QC held a frame the camera over-exposed (its rework round failed the checks too) and the order was delivered
    without it: status said "a QC lead must look", and no command could take it anywhere (`qc decide`: nothing
    waiting; `order retry`: not failed). `postline qc held N` lists it; the lead passes it as it is, and the next
    delivery has it; or sends it back to a stage for another round, which the next run works."""
    from tasks.synthetic import DngMeta, render_scene, write_dng
    from tests.flowkit import cli

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    card = write_card(tmp_path / "card", 2)
    for i, gain in enumerate((5.0, 5.0)):
        write_dng(card / f"OVER_{i}.dng", np.clip(render_scene("interior", 600, 400, seed=42 + i * 100) * gain, 0, 1),
                  DngMeta())
    order = create_order(client="Held", shoot="wedding", card=card, preset_name=None, due=None)
    first = Delivery(Path(order_flow(order.id)))
    with transaction() as session:
        held = sorted(p.source_name for p in work.photos(session, order.id, PhotoStatus.HELD))
    assert len(held) == 2, held                           # the camera blew them: the rework failed too
    assert not set(held) & first.delivered_sources()
    code, out = cli("status", str(order.id))
    assert f"held by QC for a lead: `postline qc held {order.id}` lists them" in out, out
    code, out = cli("qc", "held", str(order.id))
    assert code == 0 and f"{len(held)} photo(s) held by QC" in out and all(f"  {name}: " in out for name in held), out

    code, out = cli("qc", "held", str(order.id), "--pass", "DSC_0001.dng", "--as", "maria")
    assert code == 2 and "not held: DSC_0001.dng (delivered)" in out and "Nothing was changed" in out, out
    code, out = cli("qc", "held", str(order.id), "--send-back", f"{held[0]}:nope", "--as", "maria")
    assert code == 2 and "no stage nope in the order's line" in out, out
    code, out = cli("qc", "held", "999", "--pass", held[0], "--as", "maria")
    assert code == 2 and "no order 999" in out, out
    code, out = cli("qc", "held", str(order.id), "--pass", held[0], "--as", "maria")
    assert code == 0 and f"1 passed as it is ({held[0]})" in out and f"`postline deliver {order.id}`" in out, out
    assert (f"Next: 1 photo(s) passed since its delivery are not in its package: `postline deliver {order.id}` adds "
            "them.") in cli("status", str(order.id))[1]
    code, out = cli("deliver", str(order.id))
    assert code == 0, out
    again = Delivery(Path(out.strip().splitlines()[-1]))
    assert held[0] in again.delivered_sources() and again.mismatches() == []
    assert first.delivered_sources() < again.delivered_sources()

    # the other one, sent back a round to the last stage, with a note
    code, out = cli("qc", "held", str(order.id), "--send-back", f"{held[1]}:design_layout:look again",
                    "--as", "maria")
    assert code == 0 and f"{held[1]} sent back to Design & layout" in out and "come back as it went" in out, out
    assert f"`postline order run {order.id}`" in out
    with transaction() as session:
        photo = work.named(work.photos(session, order.id), held[1])[0]
        item = session.exec(select(WorkItem).where(WorkItem.photo_id == photo.id, WorkItem.stage == "design_layout")
                            .order_by(WorkItem.round.desc())).first()
    assert item.status is WorkStatus.QUEUED and item.round == 3 and "look again" in item.reason
    assert (f"Next: 1 photo(s) are back in the line since its delivery: `postline order run {order.id}` works them"
            in cli("status", str(order.id))[1])
    order_flow(order.id)
    with transaction() as session:
        worked = session.get(WorkItem, item.id)
    assert worked.status is WorkStatus.SUBMITTED
