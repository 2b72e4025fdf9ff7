"""The QC review page in headless Chromium, against a real paused Prefect run: a lead sees one picture per photo
waiting at the QC gate (before beside after, the clipped pixels drawn over it, a 100% view on a click), passes one
from the keyboard and rejects the other with a marked region, a reason and a note; the page then says what was
applied, the form gone. The retoucher sees the region drawn on the returned photo, and `postline queue pull`
writes it beside the working file as a mask (white inside the box, black outside).

Set POSTLINE_SCREENSHOTS=docs/screenshots to write the README's picture of the page (qc-review.png) there."""

from __future__ import annotations

import io
import os
import threading
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from flows.qc_gate import qc_gate_flow
from record import marks, moves, queue, rounds, work
from record.db import transaction
from record.models import QC_GATE, Photo, PhotoStatus, ShootType, WorkItem, WorkStatus
from surfaces.actions.queue import hand_back as submit_work
from surfaces.web import create_app
from tasks.pixels import imageio
from tests.browser import chromium_page, served, sign_in, until
from tests.flowkit import cli, wait_until_paused
from tests.test_web import PASSWORD
from tests.test_web_decisions import gate_line, gate_line_no_run  # noqa: F401  (fixtures: a line with the QC lead's review)

WIDTH, HEIGHT = 1800, 1200


def scene(seed: int) -> np.ndarray:
    """A studio-like frame: soft gradients, texture, a blown window top right and a crushed corner bottom left."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    rng = np.random.default_rng(seed)
    image = np.stack([0.35 + 0.3 * x / WIDTH, 0.3 + 0.25 * y / HEIGHT,
                      0.45 + 0.2 * np.sin((x + 2 * y) / 110 + seed)], axis=2)
    image += rng.normal(0, 0.004, image.shape)
    image[75:300, 1425:1690] = 1.0                    # blown: every channel at the top
    image[1050:, :130] = 0.0                          # crushed
    return np.clip(image, 0, 1).astype(np.float32)


def at_the_gate(home: Path, tmp_path: Path) -> int:
    """An order of two photos, retouched by rita in Liquify & skin, now waiting at the QC gate for the lead."""
    with transaction() as session:
        order = work.create_order(session, client="Lena & Tom", shoot=ShootType.PORTRAIT, preset_name="neutral",
                                  preset_version=1, preset_hash="0" * 64, preset_json="{}", due=date(2026, 12, 18),
                                  card_folder=str(home / "card"))
        ids = []
        for i in range(2):
            tif = imageio.write_working_tiff(home / "work" / f"order-{order.id}" / "cull_grade" / f"{i}.tif", scene(i))
            photo = work.add_photo(session, Photo(order_id=order.id, source_name=f"DSC_{i + 1:04d}.dng",
                                                  sha256=f"{i:064d}", size_bytes=1000, status=PhotoStatus.INGESTED),
                                   first_stage=None)
            ids.append(moves.enqueue(session, order_id=order.id, photo_id=photo.id, stage="liquify_skin", round=1,
                                     input_path=str(tif), actor="postline-auto").id)
        order_id = order.id
    for item_id in ids:
        queue.pull(person="rita", stages=["liquify_skin"])
        with transaction() as session:
            source = session.get(WorkItem, item_id).input_path
        pixels = imageio.read_working_tiff(source)
        edited = imageio.write_working_tiff(tmp_path / f"edited-{item_id}.tif",
                                            np.where(pixels >= 0.999, pixels, pixels * 0.97))   # the window stays blown
        submit_work(item_id=item_id, person="rita", file=edited)
    with transaction() as session:
        for item_id in ids:
            done = session.get(WorkItem, item_id)
            gate = moves.enqueue(session, order_id=order_id, photo_id=done.photo_id, stage=QC_GATE, round=1,
                                 input_path=done.output_path, actor="postline-auto")
            rounds.await_lead(session, work.claim_queued(session, gate.id))     # checked: waits for the lead
    return order_id


def rgb(png: bytes) -> np.ndarray:
    """The mean colour of a screenshot."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.int32).mean(axis=(0, 1))


def loaded(page, selector: str) -> list[tuple[int, int]]:  # noqa: ANN001
    """The natural sizes of the images ``selector`` finds, once each has loaded (0 x 0: broken)."""
    images = page.locator(selector)
    for i in range(images.count()):
        images.nth(i).evaluate("img => img.decode().catch(() => null)")
    return [tuple(images.nth(i).evaluate("img => [img.naturalWidth, img.naturalHeight]"))
            for i in range(images.count())]


def test_a_lead_rejects_with_a_marked_region_and_the_retoucher_gets_it_drawn_and_as_a_mask(gate_line, tmp_path):  # noqa: F811
    order_id = at_the_gate(gate_line, tmp_path)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("counts", qc_gate_flow(order_id)), daemon=True)
    runner.start()
    wait_until_paused(order_id, QC_GATE, runner)
    shots = Path(os.environ.get("POSTLINE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    with served(create_app()) as base, chromium_page(width=1360, height=1000) as page:
        sign_in(page, base, "maria", PASSWORD)
        page.goto(f"{base}/orders/{order_id}")
        page.click("#review-link")
        page.wait_for_selector("article.qc-photo")
        cards = page.locator("article.qc-photo")
        assert [cards.nth(i).get_attribute("data-name") for i in range(cards.count())] == ["DSC_0001.dng",
                                                                                         "DSC_0002.dng"]
        # One picture per photo: the after (what the gate checked) at preview size, the before beside it, and the
        # clipped pixels over the after: red where the window is blown.
        assert loaded(page, "img.photo") == [(900, 600)] * 2
        assert loaded(page, "figure.before img") == [(900, 600)] * 2
        assert "the working file before liquify skin" in cards.nth(0).locator("figure.before").inner_text()
        overlay = cards.nth(0).locator("img.clipped")
        assert loaded(page, "img.clipped") == [(900, 600)] * 2
        until(page, "document.querySelector('#photo-0').getAttribute('data-findings') === 'shown'")
        assert "clipped: " in cards.nth(0).locator(".findings").inner_text()
        box = overlay.bounding_box()
        window = page.screenshot(clip={"x": box["x"] + box["width"] * 0.86, "y": box["y"] + box["height"] * 0.15,
                                       "width": 8, "height": 8})
        assert rgb(window)[0] > 180 and rgb(window)[1:].max() < 120, rgb(window)   # the blown window, drawn red

        # A click on the blown window of the after: the 100% view of the file around it, a file pixel a CSS pixel.
        after = cards.nth(0).locator(".qc-frame.markable")
        frame = after.bounding_box()
        window_x, window_y = (1425 + 1690) / 2, (75 + 300) / 2
        page.mouse.click(frame["x"] + frame["width"] * window_x / WIDTH, frame["y"] + frame["height"] * window_y / HEIGHT)
        zoom = cards.nth(0).locator(".zoom img")
        zoom.wait_for(state="visible")
        width, height = loaded(page, ".zoom img")[0]
        asked = zoom.evaluate("img => [+new URL(img.src).searchParams.get('w'), +new URL(img.src).searchParams.get('h')]")
        shown = zoom.bounding_box()
        assert (width, height) == tuple(asked) and 900 < width < WIDTH       # a piece of the file, not all of it
        assert abs(shown["width"] - width) <= 1                               # at 100%: a file pixel a CSS pixel
        left = min(max(0, round(window_x - width / 2)), WIDTH - width)        # the piece, kept inside the file
        top = min(max(0, round(window_y - height / 2)), HEIGHT - height)

        def at(x: float, y: float) -> np.ndarray:
            return rgb(page.screenshot(clip={"x": shown["x"] + x - left, "y": shown["y"] + y - top, "width": 4,
                                             "height": 4}))
        assert at(window_x, window_y).min() > 245 and at(1425 - 30, window_y).max() < 235   # the window, sharp

        # On the second photo the lead draws around a region (Shift held): a freehand outline, the photo rejected;
        # then P passes it after all, and the region goes with the rejection.
        second = cards.nth(1).locator(".qc-frame.markable")
        second.scroll_into_view_if_needed()
        box = second.bounding_box()
        page.keyboard.down("Shift")
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
        page.mouse.down()
        for fx, fy in [(0.5, 0.25), (0.45, 0.6), (0.25, 0.55)]:
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy, steps=6)
        page.mouse.up()
        page.keyboard.up("Shift")
        outline = cards.nth(1).locator("input.outline").input_value().split()
        assert len(outline) >= 4 and cards.nth(1).locator(".verdict").get_attribute("data-verdict") == "reject"
        assert cards.nth(1).locator("polygon.mark-outline").get_attribute("visibility") == "visible"
        assert "Freehand region marked" in cards.nth(1).locator(".region-said").inner_text()
        cards.nth(1).focus()
        page.keyboard.press("p")
        assert cards.nth(1).locator(".verdict").inner_text() == "pass"
        assert cards.nth(1).locator("input.outline").input_value() == cards.nth(1).locator("input.region").input_value() == ""

        # The first is rejected: R from the keyboard (its reason to choose: none is picked for the lead), then a
        # box dragged over the after.
        cards.nth(0).focus()
        page.keyboard.press("r")
        assert cards.nth(0).locator(".verdict").inner_text() == "reject: choose the reason"
        assert page.evaluate("document.activeElement.name") == "reason-0"
        page.keyboard.press("Escape")
        assert page.evaluate("document.activeElement.id") == "photo-0"
        after.scroll_into_view_if_needed()
        frame = after.bounding_box()
        x0, y0 = frame["x"] + frame["width"] * 0.25, frame["y"] + frame["height"] * 0.30
        x1, y1 = frame["x"] + frame["width"] * 0.60, frame["y"] + frame["height"] * 0.70
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
        page.mouse.move(x1, y1, steps=4)
        page.mouse.up()
        region = [float(v) for v in cards.nth(0).locator("input.region").input_value().split(",")]
        assert np.allclose(region, [0.25, 0.30, 0.35, 0.40], atol=0.01), region
        assert cards.nth(0).locator(".verdict").get_attribute("data-verdict") == "reject"
        cards.nth(0).locator("select.reason").select_option("over_smoothed_skin")
        cards.nth(0).locator("select[name=stage-0]").select_option("liquify_skin")
        cards.nth(0).locator("input.note-input").fill("the left cheek lost its pores")
        page.screenshot(path=str(shots / "qc-review.png"), full_page=True)

        page.click("button:has-text('Give the decision')")
        page.wait_for_selector("#decided", timeout=60_000)    # the run takes the decision: seconds, more when loaded
        assert page.locator("#qc-form").count() == 0 and page.locator("article.qc-photo").count() == 0
        assert page.locator("#applied-passed").inner_text() == "Passed (1): DSC_0002.dng."
        sent = page.locator("#applied-sent-back tbody tr td")
        assert [sent.nth(i).inner_text() for i in range(sent.count())] == [
            "DSC_0001.dng", "Liquify & skin", "over smoothed skin", "the left cheek lost its pores",
            "region 35% x 40% of the frame at 25% from the left, 30% from the top"]
        assert "took the decision" in page.locator("#decided").inner_text()

    runner.join(timeout=60)
    assert not runner.is_alive() and result["counts"] == {"passed": 1, "rejected": 1}
    with transaction() as session:
        [again] = work.items_in(session, order_id, "liquify_skin", WorkStatus.QUEUED)
        [mark] = marks.marks_on(session, again.id)
    assert again.round == 2 and np.allclose([mark.x, mark.y, mark.w, mark.h], region, atol=1e-4)
    assert mark.note == "over smoothed skin: the left cheek lost its pores" and mark.actor == "maria"

    # The retoucher pulls the returned photo: the working file, and the mask beside it, said so.
    code, out = cli("queue", "pull", "--as", "rita", "--stage", "liquify_skin", "--to", str(tmp_path / "pulled"))
    assert code == 0 and f"Work item {again.id}: stage liquify_skin, round 2" in out, out
    working = Path(out.strip().splitlines()[-1])
    mask_file = working.with_name(f"{working.stem}-qc-mask.png")
    assert f"{mask_file}" in out and "white = marked" in out
    mask = np.asarray(Image.open(mask_file))
    assert mask.shape == (HEIGHT, WIDTH) and mask.dtype == np.uint8
    left, top = round(mark.x * WIDTH), round(mark.y * HEIGHT)
    right, bottom = round((mark.x + mark.w) * WIDTH), round((mark.y + mark.h) * HEIGHT)
    assert (mask[top:bottom, left:right] == 255).all()
    outside = np.ones_like(mask, bool)
    outside[top:bottom, left:right] = False
    assert (mask[outside] == 0).all() and 0.13 < (mask == 255).mean() < 0.15      # 35% x 40% of the frame

    # On the web page, the same region drawn on the returned photo she holds, where the lead marked it.
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "rita", PASSWORD)
        page.goto(f"{base}/items/{again.id}")
        photo = page.locator("#qc-marks img").bounding_box()
        drawn = page.locator("#qc-marks rect.qc-mark").bounding_box()
        seen = [(drawn["x"] - photo["x"]) / photo["width"], (drawn["y"] - photo["y"]) / photo["height"],
                drawn["width"] / photo["width"], drawn["height"] / photo["height"]]
        assert np.allclose(seen, region, atol=0.01), seen
        edge = page.screenshot(clip={"x": drawn["x"] - 1, "y": drawn["y"] + drawn["height"] / 2, "width": 3,
                                     "height": 3})
        assert rgb(edge)[0] > 200 and rgb(edge)[1:].max() < 100, rgb(edge)      # its edge, drawn red
        assert "over smoothed skin: the left cheek lost its pores" in page.locator("figure").first.inner_text()
        page.screenshot(path=str(shots / "qc-returned.png"), full_page=True)


def test_a_photo_the_automatic_checks_are_still_inspecting_is_not_the_leads_to_decide(gate_line, tmp_path):  # noqa: F811
    """The QC gate claims a photo while its automatic checks run and keeps those that pass for the lead. The lead's
    list (the review page, `qc pending`, the run's form) also had the photos still being inspected, so a lead could
    pass one the checks were about to send back (and the checks then moved a photo the lead had passed)."""
    from datetime import timedelta

    import pytest

    from qc.gates import DecisionError
    from qc.review import QC, PhotoRejection, QcDecision, ReviewReason
    from record.models import utcnow

    order_id = at_the_gate(gate_line, tmp_path)
    with transaction() as session:
        inspecting = QC.waiting(session, order_id)["DSC_0002.dng"]
        inspecting.lease_expires_at = utcnow() + timedelta(minutes=30)   # claimed by qc-batch, as work.claim_queued
        session.add(inspecting)
    code, out = cli("qc", "pending", str(order_id))
    assert code == 0 and "DSC_0001.dng" in out and "DSC_0002.dng" not in out, out
    with transaction() as session:
        assert list(QC.waiting(session, order_id)) == ["DSC_0001.dng"]
        with pytest.raises(DecisionError, match=r"not waiting for review: 'DSC_0002.dng' \(waiting: DSC_0001.dng\)"):
            QC.check(session, order_id, QcDecision(approve_all=False, lead="maria", rejections=[PhotoRejection(
                photo="DSC_0002.dng", reason=ReviewReason.OTHER, send_back_to="liquify_skin", note="soft")]))


def test_a_rejection_is_counted_by_the_reason_the_lead_chose_and_a_refused_decision_keeps_every_choice(  # noqa: F811
        gate_line_no_run, tmp_path):
    """R (or a box dragged over the after) picked the first reason, "over smoothed skin", for the lead: a lead who
    pressed R on a speck of dust and typed the note sent it back counted as over-smoothed skin in the monthly rework
    figures. Now R leaves the reason to choose (a number key rejects for that reason), and a photo marked to reject
    without one is not sent. A decision the page refused (here a region to mark again) showed the page again with
    every photo back on "pass": the lead's whole review lost."""
    from tests.test_web_decisions import gate_events

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    with served(create_app()) as base, chromium_page(width=1280, height=800) as page:
        sign_in(page, base, "maria", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/qc")
        cards = page.locator("article.qc-photo")
        cards.nth(0).focus()
        page.keyboard.press("6")          # the sixth reason: dust blemish missed; then the note
        assert cards.nth(0).locator(".verdict").inner_text() == "reject: dust blemish missed"
        assert page.evaluate("document.activeElement.name") == "note-0"
        page.keyboard.type("a speck on the collar")
        page.keyboard.press("Escape")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("r")          # rejected, its reason not chosen yet
        page.keyboard.press("Escape")
        page.click("button:has-text('Give the decision')")
        said = page.locator("#reason-missing")
        said.wait_for(state="visible")
        assert said.inner_text() == ("Choose the reason for DSC_0002.dng (each rejection is counted by its reason), "
                                     "or pass it.")
        assert page.evaluate("document.activeElement.name") == "reason-1" and gate_events(order_id) == []

        # Its reason chosen, but a region the server refuses (as a page out of step with the record would send):
        # the page comes back with the refusal and every choice as the lead left it.
        cards.nth(1).locator("select.reason").select_option("colour_cast")
        cards.nth(1).locator("input.note-input").fill("too green")
        page.evaluate("document.querySelector('#photo-1 input.region').value = '0.5,0.5,0.9,0.2'")
        page.click("button:has-text('Give the decision')")
        page.wait_for_selector("#decision-error")
        assert "The region marked on DSC_0002.dng" in page.locator("#decision-error").inner_text()
        assert gate_events(order_id) == []
        assert [cards.nth(i).locator(".verdict").inner_text() for i in range(2)] == [
            "reject: dust blemish missed", "reject: colour cast"]
        assert [cards.nth(i).locator("input.note-input").input_value() for i in range(2)] == [
            "a speck on the collar", "too green"]
        assert cards.nth(1).locator("rect.mark").get_attribute("visibility") == "visible"    # the region, drawn
        cards.nth(1).focus()
        page.keyboard.press("c")          # cleared: sent back without one
        page.click("button:has-text('Give the decision')")
        page.wait_for_selector("#decided")
        sent = page.locator("#applied-sent-back tbody tr")
        assert [sent.nth(i).locator("td").nth(2).inner_text() for i in range(sent.count())] == [
            "dust blemish missed", "colour cast"]
    # What the figures count is what the lead chose.
    assert sorted(gate_events(order_id)) == [
        ("rejected", "[colour_cast] DSC_0002.dng: too green", "liquify_skin"),
        ("rejected", "[dust_blemish_missed] DSC_0001.dng: a speck on the collar", "liquify_skin")]


def test_a_reason_left_to_choose_is_refused_by_the_server_too(gate_line_no_run, tmp_path):  # noqa: F811
    """Without the page's script (or a form posted by hand), a row marked to reject with no reason is refused,
    naming the photo; nothing is applied."""
    import re

    from tests.test_web import client_for
    from tests.test_web_decisions import gate_events

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    web = client_for("maria")
    html = web.get(f"/orders/{order_id}/qc").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    answer = web.post(f"/orders/{order_id}/qc", data={
        "csrf": csrf, "photo-0": "DSC_0001.dng", "reason-0": "", "stage-0": "liquify_skin", "note-0": "hm",
        "photo-1": "DSC_0002.dng", "reason-1": "pass", "stage-1": "liquify_skin"})
    assert answer.status_code == 422
    assert "Choose the reason to send back DSC_0001.dng" in answer.text and gate_events(order_id) == []
    assert 'value="hm"' in answer.text          # the note kept on the page shown again


def test_the_review_page_of_a_big_order_shows_at_once_and_finds_faces_only_for_photos_in_view(  # noqa: F811
        gate_line_no_run, tmp_path):
    """The page worked out every photo's findings (finding faces: a second or two each) before it sent a byte: a
    60-photo order took 105 s to show, a lead's 300 photos several minutes. Now each photo's findings are asked for
    as it comes into view, and its pictures load then."""
    import time

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    with transaction() as session:
        first = session.exec(select_gate(order_id)).first()
        for i in range(3, 41):
            photo = work.add_photo(session, Photo(order_id=order_id, source_name=f"DSC_{i:04d}.dng", sha256=f"{i:064d}",
                                                  size_bytes=1000, status=PhotoStatus.INGESTED), first_stage=None)
            gate = moves.enqueue(session, order_id=order_id, photo_id=photo.id, stage=QC_GATE, round=1,
                                 input_path=first.input_path, actor="postline-auto")
            rounds.await_lead(session, work.claim_queued(session, gate.id))
    with served(create_app()) as base, chromium_page(width=1280, height=800) as page:
        sign_in(page, base, "maria", PASSWORD)
        started = time.monotonic()
        page.goto(f"{base}/orders/{order_id}/qc")
        shown_in = time.monotonic() - started
        cards = page.locator("article.qc-photo")
        assert cards.count() == 40 and shown_in < 10, shown_in
        until(page, "document.querySelector('#photo-0').getAttribute('data-findings') === 'shown'")
        assert "clipped: " in cards.nth(0).locator(".findings").inner_text()
        assert cards.nth(39).get_attribute("data-findings") is None          # far below: not asked for yet
        assert "come when the photo is in view" in cards.nth(39).locator(".findings").inner_text()
        cards.nth(39).scroll_into_view_if_needed()
        until(page, "document.querySelector('#photo-39').getAttribute('data-findings') === 'shown'")
        assert "mean level" in cards.nth(39).locator(".findings").inner_text()


def select_gate(order_id: int):  # noqa: ANN201 - a select statement
    from sqlmodel import select

    return select(WorkItem).where(WorkItem.order_id == order_id, WorkItem.stage == QC_GATE)
