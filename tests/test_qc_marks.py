"""A marked region of a QC rejection, without a browser: the mask's pixels, the region's bounds, what the review
page's form refuses (a region on a photo that passes, a box that is not one), the region recorded on the round it
goes to and said in the decision's summary, who may see the review page's pictures; and the region given from the
command line (`postline qc decide --region/--outline`): taken by a real paused run, recorded, pulled as a mask, and
refused with what to do when it is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from qc.gates import DecisionError
from qc.review import QC, Region
from record import marks, work
from record.db import transaction
from surfaces.actions import gates
from surfaces.web_qc import decision_of
from tasks.pixels import mask
from tests.test_web import client_for, csrf
from tests.test_web_decisions import at_the_gate, gate_line, gate_line_no_run  # noqa: F401  (fixtures)

WAITING = ["DSC_0001.dng", "DSC_0002.dng"]


def test_the_mask_is_white_inside_the_box_and_black_outside():
    found = mask.apply(10, 8, [(0.2, 0.25, 0.5, 0.5)])
    expected = np.zeros((8, 10), np.uint8)
    expected[2:6, 2:7] = 255
    assert found.dtype == np.uint8 and (found == expected).all()
    assert mask.apply(4, 4, [(0.999, 0.999, 0.001, 0.001)])[3, 3] == 255      # a sliver is still a pixel
    with pytest.raises(ValueError, match="at least 1x1"):
        mask.apply(0, 4, [])
    triangle = mask.apply(100, 100, [], [[(0.1, 0.1), (0.9, 0.1), (0.1, 0.9)]])
    assert triangle[20, 20] == 255 and triangle[80, 80] == 0 and triangle[15, 85] == 255 and triangle[85, 15] == 255
    assert 0.30 < (triangle == 255).mean() < 0.34             # half of the 80% x 80% box


def test_a_region_must_lie_inside_the_photo():
    assert Region(x=0.5, y=0.5, w=0.5, h=0.5).described() == ("region 50% x 50% of the frame at 50% from the "
                                                              "left, 50% from the top")
    with pytest.raises(ValidationError, match="outside the photo"):
        Region(x=0.6, y=0.1, w=0.5, h=0.2)
    with pytest.raises(ValidationError):
        Region(x=0.1, y=0.1, w=0, h=0.2)
    drawn = Region(x=0.1, y=0.1, w=0.8, h=0.8, outline=[(0.1, 0.1), (0.9, 0.1), (0.1, 0.9)])
    assert drawn.outline_text() == "0.1000,0.1000 0.9000,0.1000 0.1000,0.9000"
    assert drawn.described().startswith("freehand region of 3 points within 80% x 80%")
    with pytest.raises(ValidationError, match="outline reaches outside its box"):
        Region(x=0.1, y=0.1, w=0.2, h=0.2, outline=[(0.1, 0.1), (0.9, 0.1), (0.1, 0.9)])
    with pytest.raises(ValidationError):
        Region(x=0.1, y=0.1, w=0.8, h=0.8, outline=[(0.1, 0.1), (0.9, 0.1)])          # not an area

    assert Region.parse("0.1,0.1,0.8,0.8", "0.1,0.1 0.9,0.1 0.1,0.9") == drawn      # the form's text, read back
    for box, outline, said in (("0.1,0.1,0.2", "", "a box is 4 numbers x,y,w,h, not 3"),
                               ("a,b,c,d", "", "write numbers"),
                               ("0.1,0.1,0,0.2", "", "w: Input should be greater than 0"),
                               ("0.1,0.1,0.8,0.8", "0.1 0.9,0.1 0.1,0.9", "each point of an outline is 2 numbers"),
                               ("0.1,0.1,0.2,0.2", "0.1,0.1 0.9,0.1 0.1,0.9", "outline reaches outside its box")):
        with pytest.raises(ValueError, match=said):
            Region.parse(box, outline)


def row(index: int, name: str, reason: str = "pass", region: str = "") -> dict:
    return {f"photo-{index}": name, f"reason-{index}": reason, f"stage-{index}": "liquify_skin",
            f"note-{index}": "", f"region-{index}": region}


def test_the_review_form_refuses_a_region_on_a_pass_and_a_box_that_is_not_one():
    with pytest.raises(DecisionError, match="A marked region goes with a rejection: DSC_0002.dng"):
        decision_of(row(0, "DSC_0001.dng") | row(1, "DSC_0002.dng", region="0.1,0.1,0.2,0.2"), WAITING, "maria")
    for bad in ("0.1,0.1,0.2", "a,b,c,d", "0.9,0.1,0.5,0.2", "nan,0,0.1,0.1"):
        with pytest.raises(DecisionError, match=r"The region marked on DSC_0001.dng .* is not a box inside the "
                                                r"photo .*mark it again"):
            decision_of(row(0, "DSC_0001.dng", "exposure", bad) | row(1, "DSC_0002.dng"), WAITING, "maria")
    with pytest.raises(DecisionError) as refused:
        decision_of(row(0, "DSC_0001.dng", "exposure", "0.9,0.1,0.5,0.2") | row(1, "DSC_0002.dng"), WAITING, "maria")
    assert "(the region reaches outside the photo (x + w and y + h must be at most 1))" in str(refused.value)
    assert "errors.pydantic.dev" not in str(refused.value)
    decision = decision_of(row(0, "DSC_0001.dng", "exposure", "0.1,0.2,0.3,0.4") | row(1, "DSC_0002.dng"),
                           WAITING, "maria")
    [rejection] = decision.rejections
    assert rejection.region.box() == (0.1, 0.2, 0.3, 0.4) and decision.lead == "maria"


def test_a_region_given_from_the_record_side_reaches_the_new_round_and_is_said(gate_line_no_run, tmp_path):  # noqa: F811
    order_id = at_the_gate(gate_line_no_run, tmp_path)
    decision = QC.build(listed=[{"photo": "DSC_0002.dng", "reason": "crop", "send_back_to": "liquify_skin",
                                 "note": "horizon", "region": {"x": 0.0, "y": 0.5, "w": 1.0, "h": 0.25}}],
                        by="maria")
    said = gates.decide(order_id, decision)
    assert ("1 passed; DSC_0002.dng sent back to Liquify & skin (crop, region 100% x 25% of the frame at 0% from "
            "the left, 50% from the top)") in said
    with transaction() as session:
        [again] = work.items_in(session, order_id, "liquify_skin")
        [mark] = marks.marks_on(session, again.id)
        assert marks.marks_of(session, [again.id, again.id + 100]) == {again.id: [mark]}
    assert again.round == 2 and (mark.x, mark.y, mark.w, mark.h) == (0.0, 0.5, 1.0, 0.25)
    assert mark.note == "crop: horizon"


def test_the_review_pages_pictures_are_for_leads(gate_line_no_run, tmp_path):  # noqa: F811
    order_id = at_the_gate(gate_line_no_run, tmp_path)
    lead = client_for("maria")
    page = lead.get(f"/orders/{order_id}/qc").text
    item_id = int(page.split(f'/orders/{order_id}/qc/')[1].split("/")[0])
    assert lead.get(f"/orders/{order_id}/qc/{item_id}/after.jpg").headers["content-type"] == "image/jpeg"
    assert lead.get(f"/orders/{order_id}/qc/{item_id}/clipped.png").headers["content-type"] == "image/png"
    zoomed = lead.get(f"/orders/{order_id}/qc/{item_id}/after/zoom.jpg?x=0.5&y=0.5&w=64&h=32")
    assert zoomed.status_code == 200 and zoomed.content[:3] == b"\xff\xd8\xff"
    assert lead.get(f"/orders/{order_id}/qc/{item_id}/after/zoom.jpg?x=2").status_code == 404   # not a place
    assert lead.get(f"/orders/{order_id + 1}/qc/{item_id}/after.jpg").status_code == 404       # not its order
    rita = client_for("rita")
    assert rita.get(f"/orders/{order_id}/qc/{item_id}/after.jpg").status_code == 403
    assert rita.get(f"/orders/{order_id}/qc").status_code == 403
    assert client_for().get(f"/orders/{order_id}/qc/{item_id}/after.jpg").status_code == 401
    bad = lead.post(f"/orders/{order_id}/qc", data={"csrf": csrf(page)} | row(0, "DSC_0001.dng", "exposure", "1,1,1,1")
                    | row(1, "DSC_0002.dng"))
    assert bad.status_code == 422 and "is not a box inside the photo" in bad.text and 'id="qc-form"' in bad.text


def test_the_before_of_a_second_round_at_the_gate_is_the_first(gate_line_no_run, tmp_path):  # noqa: F811
    from record import moves
    from record.models import QC_GATE
    from surfaces.web_qc_pictures import before_of

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    with transaction() as session:
        first = QC.waiting(session, order_id)["DSC_0001.dng"]
        assert before_of(session, first).label == "the working file before liquify skin"
    gates.decide(order_id, QC.build(listed=[{"photo": "DSC_0001.dng", "reason": "exposure",
                                             "send_back_to": "liquify_skin"}], by="maria"))
    with transaction() as session:
        again = moves.enqueue(session, order_id=order_id, photo_id=first.photo_id, stage=QC_GATE, round=2,
                              input_path=str(tmp_path / "edited-1.tif"), actor="postline-auto")
        before = before_of(session, again)
    assert (before.path, before.label) == (Path(first.input_path), "round 1 at the QC gate")


def test_a_freehand_region_is_pulled_as_its_outline_filled(gate_line_no_run, tmp_path):  # noqa: F811
    from PIL import Image

    from surfaces.actions.queue import mask_beside, pull_to_folder

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    form = row(0, "DSC_0001.dng", "liquify_distortion", "0.1,0.1,0.8,0.8") | row(1, "DSC_0002.dng")
    form["outline-0"] = "0.1,0.1 0.9,0.1 0.1,0.9"
    gates.decide(order_id, decision_of(form, WAITING, "maria"))
    item, working = pull_to_folder(person="rita", folder=tmp_path / "pulled")
    assert item.round == 2
    pulled = np.asarray(Image.open(mask_beside(working)))
    height, width = pulled.shape
    assert (width, height) == Image.open(working).size == (120, 80)
    assert pulled[int(0.2 * height), int(0.2 * width)] == 255          # inside the outline
    assert pulled[int(0.8 * height), int(0.8 * width)] == 0            # inside its box, outside the outline
    assert pulled[int(0.95 * height), int(0.5 * width)] == 0           # outside both
    page = client_for("rita").get(f"/items/{item.id}").text
    assert '<polygon class="qc-mark" points="0.1000,0.1000 0.9000,0.1000 0.1000,0.9000"' in page
    assert "liquify distortion (maria)" in page


# --- the region from the command line: `postline qc decide --region/--outline` ----------------------------------

def photo_of(session, item_id: int) -> str:  # noqa: ANN001 - a record session
    from record.models import Photo, WorkItem

    return session.get(Photo, session.get(WorkItem, item_id).photo_id).source_name


def test_the_command_line_marks_regions_the_paused_run_records_and_the_pull_writes_as_masks(gate_line, tmp_path):  # noqa: F811
    import threading

    from PIL import Image

    from flows.qc_gate import qc_gate_flow
    from record.models import QC_GATE
    from surfaces.actions.queue import mask_beside
    from tests.flowkit import cli, wait_until_paused

    order_id = at_the_gate(gate_line, tmp_path)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("counts", qc_gate_flow(order_id)), daemon=True)
    runner.start()
    wait_until_paused(order_id, QC_GATE, runner)
    code, said = cli("qc", "decide", str(order_id),
                     "--reject", "DSC_0001.dng:dust_blemish_missed:liquify_skin:a speck on the collar",
                     "--region", "DSC_0001.dng:0.25,0.3,0.5,0.4",
                     "--reject", "DSC_0002.dng:liquify_distortion:liquify_skin",
                     "--region", "DSC_0002.dng:0.1,0.1,0.8,0.8", "--outline", "DSC_0002.dng:0.1,0.1 0.9,0.1 0.1,0.9",
                     "--as", "maria")
    assert code == 0, said
    assert f"Order {order_id}'s flow run took the decision" in said
    assert ("0 passed; DSC_0001.dng sent back to Liquify & skin (dust_blemish_missed, region 50% x 40% of the frame "
            "at 25% from the left, 30% from the top); DSC_0002.dng sent back to Liquify & skin (liquify_distortion, "
            "freehand region of 3 points within 80% x 80% of the frame at 10% from the left, 10% from the top)") in said
    runner.join(timeout=60)
    assert not runner.is_alive() and result["counts"] == {"passed": 0, "rejected": 2}
    with transaction() as session:
        again = {photo_of(session, item.id): item for item in work.items_in(session, order_id, "liquify_skin")
                 if item.round == 2}
        recorded = {name: marks.marks_on(session, item.id) for name, item in again.items()}
    [box], [drawn] = recorded["DSC_0001.dng"], recorded["DSC_0002.dng"]
    assert (box.x, box.y, box.w, box.h, box.outline, box.note) == (0.25, 0.3, 0.5, 0.4, None,
                                                                   "dust blemish missed: a speck on the collar")
    assert drawn.outline == "0.1000,0.1000 0.9000,0.1000 0.1000,0.9000" and drawn.actor == "maria"

    pulled = {}
    for _ in range(2):                                   # rita pulls both, each with its mask beside it
        code, out = cli("queue", "pull", "--as", "rita", "--to", str(tmp_path / "pulled"))
        assert code == 0 and "QC marked where to look" in out, out
        working = Path(out.strip().splitlines()[-1])
        item_id = int(out.split("Work item ")[1].split(":")[0])
        with transaction() as session:
            pulled[photo_of(session, item_id)] = working
    masks = {name: np.asarray(Image.open(mask_beside(working))) for name, working in pulled.items()}
    assert {m.shape for m in masks.values()} == {(80, 120)} == {Image.open(w).size[::-1] for w in pulled.values()}
    boxed = masks["DSC_0001.dng"]
    assert boxed[int(0.5 * 80), int(0.5 * 120)] == 255 and boxed[int(0.1 * 80), int(0.1 * 120)] == 0
    assert (boxed == 255).mean() == pytest.approx(0.5 * 0.4, abs=0.02)
    freehand = masks["DSC_0002.dng"]
    assert freehand[int(0.2 * 80), int(0.2 * 120)] == 255 and freehand[int(0.8 * 80), int(0.8 * 120)] == 0


def test_the_command_line_refuses_a_wrong_region_and_decides_nothing(gate_line_no_run, tmp_path, capsys):  # noqa: F811
    from surfaces.cli import main
    from tests.test_web_decisions import gate_events

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    reject = ["--reject", "DSC_0001.dng:exposure:liquify_skin:too dark"]
    refused = {
        "a region on a photo that passes": (
            reject + ["--region", "DSC_0002.dng:0.1,0.1,0.2,0.2"],
            "a marked region goes with a rejection: 'DSC_0002.dng' would pass with one; send it back with "
            "--reject DSC_0002.dng:REASON:STAGE, or leave out its --region"),
        "a region with --approve-all": (
            ["--approve-all", "--region", "DSC_0001.dng:0.1,0.1,0.2,0.2"],
            "a marked region goes with a rejection: 'DSC_0001.dng' would pass with one; send it back with "
            "--reject DSC_0001.dng:REASON:STAGE instead of --approve-all, or leave out its --region"),
        "a box outside the frame": (
            reject + ["--region", "DSC_0001.dng:0.9,0.1,0.5,0.2"],
            "the region of 'DSC_0001.dng' (--region '0.9,0.1,0.5,0.2') is not a box inside the photo (the region "
            "reaches outside the photo (x + w and y + h must be at most 1)): write X,Y,W,H in fractions 0..1"),
        "not numbers": (reject + ["--region", "DSC_0001.dng:a,b,c,d"], "is not a box inside the photo (write numbers"),
        "three numbers": (reject + ["--region", "DSC_0001.dng:0.1,0.1,0.2"], "a box is 4 numbers x,y,w,h, not 3"),
        "a percentage": (reject + ["--region", "DSC_0001.dng:25,30,50,40"], "x: Input should be less than or equal to 1"),
        "an outline outside its box": (
            reject + ["--region", "DSC_0001.dng:0.1,0.1,0.2,0.2", "--outline", "DSC_0001.dng:0.1,0.1 0.9,0.1 0.1,0.9"],
            "and --outline '0.1,0.1 0.9,0.1 0.1,0.9') is not a box inside the photo (the freehand outline reaches "
            "outside its box (x, y, w, h)): write X,Y,W,H in fractions 0..1 of the frame with X+W and Y+H at most 1, "
            "e.g. 'DSC_0003.dng:0.25,0.1,0.5,0.3', and the outline's points X,Y inside that box"),
        "an outline without its box": (
            reject + ["--outline", "DSC_0001.dng:0.1,0.1 0.9,0.1 0.1,0.9"],
            "--outline for 'DSC_0001.dng' without its box: give --region PHOTO:X,Y,W,H too"),
        "two regions for one photo": (
            reject + ["--region", "DSC_0001.dng:0.1,0.1,0.2,0.2", "--region", "DSC_0001.dng:0.5,0.5,0.2,0.2"],
            "--region given more than once for 'DSC_0001.dng': one each"),
        "a photo not waiting": (
            ["--reject", "DSC_0404.dng:exposure:liquify_skin", "--region", "DSC_0404.dng:0.1,0.1,0.2,0.2"],
            "not waiting for review: 'DSC_0404.dng' (waiting: DSC_0001.dng, DSC_0002.dng)"),
    }
    for case, (options, said) in refused.items():
        assert main(["qc", "decide", str(order_id), *options, "--as", "maria"]) == 2, case
        error = capsys.readouterr().err
        assert said in error and error.rstrip().endswith("Nothing was applied."), (case, error)
    for malformed in ("0.1,0.1,0.2,0.2", "DSC_0001.dng:", ":0.1,0.1,0.2,0.2"):     # not PHOTO:X,Y,W,H at all
        with pytest.raises(SystemExit) as exited:
            main(["qc", "decide", str(order_id), *reject, "--region", malformed])
        assert exited.value.code == 2
        assert "write PHOTO:X,Y,W,H, e.g. 'DSC_0003.dng:0.25,0.1,0.5,0.3'" in capsys.readouterr().err
    assert gate_events(order_id) == [] and sorted(QC.awaiting(order_id)) == WAITING      # nothing was decided

    assert main(["qc", "decide", str(order_id), *reject, "--region", "DSC_0001.dng:0,0,1,0.5", "--as", "maria"]) == 0
    assert ("recorded directly: 1 passed; DSC_0001.dng sent back to Liquify & skin (exposure, region 100% x 50% of "
            "the frame at 0% from the left, 0% from the top)") in capsys.readouterr().out
    with transaction() as session:
        [again] = [item for item in work.items_in(session, order_id, "liquify_skin") if item.round == 2]
        [mark] = marks.marks_on(session, again.id)
    assert (mark.x, mark.y, mark.w, mark.h, mark.note) == (0.0, 0.0, 1.0, 0.5, "exposure: too dark")
