"""A photo QC sends back to a stage people work: the retoucher pulls what the stage started from, and their
hand-back of the round before beside it, to go on from (they fix what QC marked, not the whole retouch again);
an assisted stage's preparation is not applied a second time. Real Prefect, real SQLite, real files, the
order's flow run paused and resumed as a lead and a retoucher would."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from qc.review import PhotoRejection, QcDecision, ReviewReason
from record import people, work
from record.db import transaction
from record.models import QC_GATE, WorkItem
from surfaces.actions.gates import decide
from surfaces.actions.orders import create_order
from surfaces.actions.queue import hand_back, hand_back_beside, pull_to_folder
from tasks.pixels import imageio
from tasks.synthetic import write_card
from tests.flowkit import Delivery, cli, wait_until_paused
from tests.test_web import PASSWORD, client_for

LINE = """
[[stages]]
key = "cull_grade"
title = "Cull & grade"
operation = "grade"

[[stages]]
key = "liquify_skin"
title = "Liquify & skin"
mode = "assisted"
operation = "skin"
[stages.params]
strength = 0.6

[[stages]]
key = "fine_retouch"
title = "Fine retouch & colour"
mode = "manual"
allow_crop = true

[[stages]]
key = "design_layout"
title = "Design & layout"
operation = "finish"

[qc_gate]
human_review = true
"""


@pytest.fixture
def rework_line(line_file, monkeypatch, home, prefect_api):
    line_file(LINE)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin,fine_retouch",
                          password=PASSWORD)
        people.add_person(session, name="maria", role="lead", skills="", password=None)


def _retouch(stage: str, folder: Path, edit) -> dict[int, tuple[WorkItem, Path, Path]]:  # noqa: ANN001
    """Pull every item of ``stage``, hand back ``edit`` of it; by photo: (item, pulled file, handed-back file)."""
    done = {}
    while (pulled := pull_to_folder(person="rita", stage=stage, folder=folder)) is not None:
        item, path = pulled
        out = path.with_name(path.stem + "-done.tif")
        imageio.write_working_tiff(out, edit(imageio.read_working_tiff(path)))
        hand_back(item_id=item.id, person="rita", file=out)
        done[item.photo_id] = (item, path, out)
    return done


def test_a_photo_sent_back_to_people_comes_back_as_they_handed_it_back(rework_line, tmp_path):
    card = write_card(tmp_path / "card", 3, size=(360, 240))
    order_id = create_order(client="Rework", shoot="portrait", card=card, preset_name=None, due=None).id
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("package", _run(order_id)), daemon=True)
    runner.start()

    wait_until_paused(order_id, "liquify_skin", runner)
    skin1 = _retouch("liquify_skin", tmp_path / "r1", lambda a: a * 0.97)
    wait_until_paused(order_id, "fine_retouch", runner)
    fine1 = _retouch("fine_retouch", tmp_path / "r1", lambda a: a[8:-8, 12:-12] * 0.98)    # a crop, as the stage allows
    wait_until_paused(order_id, QC_GATE, runner)
    with transaction() as session:
        photos = sorted(work.photos(session, order_id), key=lambda p: p.source_name)
    to_skin, to_fine, passed = photos
    decide(order_id, QcDecision(approve_all=False, lead="maria", rejections=[
        PhotoRejection(photo=to_skin.source_name, reason=ReviewReason.OVER_SMOOTHED_SKIN, send_back_to="liquify_skin",
                       note="a hair across the cheek"),
        PhotoRejection(photo=to_fine.source_name, reason=ReviewReason.DUST_BLEMISH_MISSED, send_back_to="fine_retouch",
                       note="a speck on the collar")]))

    # the assisted stage: round 2 starts from round 1's prepared file, not prepared (smoothed) again; rita's
    # hand-back of round 1 beside it, which she goes on from
    wait_until_paused(order_id, "liquify_skin", runner)
    item, path = pull_to_folder(person="rita", stage="liquify_skin", folder=tmp_path / "r2")
    assert (item.photo_id, item.round) == (to_skin.id, 2)
    assert np.array_equal(imageio.read_working_tiff(path), imageio.read_working_tiff(skin1[to_skin.id][1]))
    beside = hand_back_beside(path)
    assert np.array_equal(imageio.read_working_tiff(beside), imageio.read_working_tiff(skin1[to_skin.id][2]))
    fixed = path.with_name(path.stem + "-done.tif")
    imageio.write_working_tiff(fixed, imageio.read_working_tiff(beside) * 0.99)
    hand_back(item_id=item.id, person="rita", file=fixed)

    # the manual stage: the photo sent back there comes with rita's cropped hand-back beside it; the one redone
    # upstream starts from the new skin hand-back, with nothing beside it (what was under her retouch changed)
    wait_until_paused(order_id, "fine_retouch", runner)
    code, said = cli("queue", "pull", "--as", "rita", "--stage", "fine_retouch", "--to", str(tmp_path / "r2"))
    assert code == 0, said
    assert "Sent back by QC" in said and "a speck on the collar" in said
    assert "your hand-back of round 1 is beside it, to go on from" in said and "-handed-back.tif" in said, said
    pulled = Path(said.strip().splitlines()[-1])
    with transaction() as session:
        item = session.get(WorkItem, int(pulled.name.split("-")[0]))
    assert (item.photo_id, item.round) == (to_fine.id, 2)
    assert np.array_equal(imageio.read_working_tiff(pulled), imageio.read_working_tiff(fine1[to_fine.id][1]))
    assert np.array_equal(imageio.read_working_tiff(hand_back_beside(pulled)),
                          imageio.read_working_tiff(fine1[to_fine.id][2]))
    # the web page says the same and gives the hand-back to download
    web = client_for("rita")
    page = web.get(f"/items/{item.id}")
    assert page.status_code == 200 and "To go on from your work instead" in page.text
    assert web.get(f"/items/{item.id}/handed-back").content == hand_back_beside(pulled).read_bytes()
    # going on from the cropped hand-back is a result the stage takes
    on = pulled.with_name(pulled.stem + "-on.tif")
    imageio.write_working_tiff(on, imageio.read_working_tiff(hand_back_beside(pulled)) * 0.96)
    hand_back(item_id=item.id, person="rita", file=on)

    item, path = pull_to_folder(person="rita", stage="fine_retouch", folder=tmp_path / "r2")
    assert (item.photo_id, item.round) == (to_skin.id, 2)
    assert not hand_back_beside(path).exists()      # a new input from upstream: nothing of hers to go on from
    assert "continues" not in client_for("rita").get(f"/items/{item.id}").text
    assert np.array_equal(imageio.read_working_tiff(path), imageio.read_working_tiff(fixed))
    done = path.with_name(path.stem + "-done.tif")
    imageio.write_working_tiff(done, imageio.read_working_tiff(path)[4:-4, 6:-6] * 0.98)
    hand_back(item_id=item.id, person="rita", file=done)

    wait_until_paused(order_id, QC_GATE, runner)
    decide(order_id, QcDecision(approve_all=True, lead="maria"))
    runner.join(timeout=120)
    delivery = Delivery(Path(result["package"]))
    assert delivery.delivered_sources() == {p.source_name for p in photos} and delivery.mismatches() == []
    assert delivery.full(to_fine.source_name).size == (336, 224)          # her crop, kept
    assert delivery.full(passed.source_name).size == (336, 224)
    assert delivery.full(to_skin.source_name).size == (348, 232)


def _run(order_id: int) -> str:
    from flows.order import order_flow

    return order_flow(order_id)
