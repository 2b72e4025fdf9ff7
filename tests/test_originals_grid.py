"""The senior photographer's grid for the review of the originals, in headless Chromium: thumbnails of the
originals, the cull's flags and suggestion pre-filled, a burst's frames side by side with the best one named,
keep and reject given from the keyboard, and the decision applied through the same gate as `postline review
decide` (culled photos, decisions recorded beside the suggestion)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image
from sqlmodel import select

from record import cull as cull_record
from record import people, work
from record.db import transaction
from record.models import ORIGINAL_REVIEW, CullDecision, CullSignals, CullVerdict, Photo, PhotoStatus, ShootType
from surfaces.web import create_app
from tests.browser import chromium_page, served, sign_in, until
from tests.test_web import PASSWORD

T0 = datetime(2026, 6, 20, 14, 0, 0)
# name: (seconds after T0, hash bits from all-zero, blur where the subject is)
FRAMES = {"A.jpg": (0, 0, 0.30), "B.jpg": (1, 2, 0.45), "C.jpg": (100, 30, 0.80), "D.jpg": (200, 60, 0.20)}


def _order(home) -> int:
    """Four originals (real JPEG files) with their cull signals: A and B one burst (A the sharper), C blurred."""
    home.mkdir(parents=True, exist_ok=True)
    with transaction() as session:
        order = work.create_order(session, client="Mia & Leo", shoot=ShootType.WEDDING, preset_name="neutral",
                                  preset_version=1, preset_hash="0" * 64, preset_json="{}", due=None,
                                  card_folder=str(home / "card"))
        for n, (name, (seconds, bits, blur)) in enumerate(FRAMES.items()):
            path = home / name
            colour = np.array([40 + 50 * n, 120, 200 - 40 * n], np.uint8)
            Image.fromarray(np.broadcast_to(colour, (200, 300, 3)).copy()).save(path, quality=90)
            photo = work.add_photo(session, Photo(order_id=order.id, source_name=name, sha256=f"{n:064x}",
                                                  size_bytes=path.stat().st_size, status=PhotoStatus.INGESTED,
                                                  capture_time=T0 + timedelta(seconds=seconds),
                                                  original_path=str(path)), first_stage="cull_grade")
            cull_record.add_signals(session, CullSignals(
                photo_id=photo.id, order_id=order.id, source="image", width=300, height=200, subject="region",
                blur=blur, motion=0.05, motion_angle=0, highlights=0.0, shadows=0.0, median_luma=0.45, faces=0,
                eyes="", phash=f"{(1 << bits) - 1:016x}"))
        people.add_person(session, name="sergei", role="lead", skills="", password=PASSWORD)
        work.get_order(session, order.id).waiting_on = ORIGINAL_REVIEW    # as the run marks it, paused for the review
        return order.id


def test_the_grid_shows_the_suggestion_and_takes_keep_and_reject_from_the_keyboard(home, monkeypatch):
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}")
        assert page.locator("#waiting-on").inner_text() == "the review of the originals (the senior photographer)"
        page.click("#originals-grid")
        frames = page.locator(".frame")
        assert frames.count() == 4
        until(page, "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")

        burst = page.locator(".burst .frame")
        assert [burst.nth(i).get_attribute("data-photo") for i in range(2)] == ["A.jpg", "B.jpg"]
        a, b = burst.nth(0).bounding_box(), burst.nth(1).bounding_box()
        assert a["y"] == b["y"] and b["x"] > a["x"] + a["width"] / 2                   # side by side
        assert "best of the burst" in burst.nth(0).inner_text()
        suggested = {frames.nth(i).get_attribute("data-photo"): "reject" in frames.nth(i).get_attribute("class")
                     for i in range(4)}
        assert suggested == {"A.jpg": False, "B.jpg": True, "C.jpg": True, "D.jpg": False}
        assert "blurred" in page.locator('.frame[data-photo="C.jpg"] .flags').inner_text()
        assert page.locator('.frame[data-photo="B.jpg"] .flags').inner_text() == "near-duplicate of a better frame"

        page.keyboard.press("k")               # A: keep (it was), on to B
        page.keyboard.press("k")               # B: keep, against the suggestion
        page.keyboard.press("ArrowRight")      # C: left as suggested (reject)
        page.keyboard.press("x")               # D: reject, against the suggestion
        assert "reject" not in page.locator('.frame[data-photo="B.jpg"]').get_attribute("class")
        assert page.locator('.frame[data-photo="D.jpg"] input[value="reject"]').is_checked()
        page.click("#give-decision")
        assert "2 approved; C.jpg culled (blurred); D.jpg culled (other)" in page.locator("#decided").inner_text()

    with transaction() as session:
        statuses = {p.source_name: p.status for p in work.photos(session, order_id)}
        names = {p.id: p.source_name for p in work.photos(session, order_id)}
        decisions = {names[d.photo_id]: (d.suggested, d.decided, d.actor)
                     for d in session.exec(select(CullDecision)).all()}
    assert statuses == {"A.jpg": PhotoStatus.INGESTED, "B.jpg": PhotoStatus.INGESTED,
                        "C.jpg": PhotoStatus.CULLED, "D.jpg": PhotoStatus.CULLED}
    K, R = CullVerdict.KEEP, CullVerdict.REJECT
    assert decisions == {"A.jpg": (K, K, "sergei"), "B.jpg": (R, K, "sergei"), "C.jpg": (R, R, "sergei"),
                         "D.jpg": (K, R, "sergei")}


def test_the_grid_shows_the_photographers_ratings_and_is_prefilled_with_them(home, monkeypatch):
    from record import ratings
    from tasks.pixels.ratings import FrameRating

    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with transaction() as session:
        ids = {p.source_name: p.id for p in work.photos(session, order_id)}
        ratings.put(session, order_id, ids["B.jpg"], FrameRating(stars=2, label="Green", source="B.xmp"))  # picked
        ratings.put(session, order_id, ids["D.jpg"], FrameRating(stars=-1, source="D.xmp"))               # rejected
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        frames = page.locator(".frame")
        prefilled = {frames.nth(i).get_attribute("data-photo"): "reject" in frames.nth(i).get_attribute("class")
                     for i in range(4)}
        # B: the burst's lesser frame, but the photographer starred it; D: sharp, but they rejected it
        assert prefilled == {"A.jpg": False, "B.jpg": False, "C.jpg": True, "D.jpg": True}
        assert page.locator('.frame[data-photo="B.jpg"] .rating').inner_text() == "★★, Green"
        assert page.locator('.frame[data-photo="D.jpg"] .rating').inner_text() == "rejected"
        assert page.locator('.frame[data-photo="A.jpg"] .rating').count() == 0
        page.click("#only-picks")          # as `review decide --only-picks`: the frames not picked go too
        prefilled = {f.get_attribute("data-photo"): f.locator("select").input_value()
                     for f in page.locator(".frame.reject").all()}
        assert prefilled == {"A.jpg": "not_picked", "C.jpg": "not_picked", "D.jpg": "rejected_by_photographer"}
        page.click("#as-the-line-says")
        assert page.locator(".frame.reject").count() == 2
        page.click("#give-decision")
        assert ("2 approved; C.jpg culled (blurred); D.jpg culled (rejected by photographer)"
                in page.locator("#decided").inner_text())


def _id(order_id: int, name: str) -> int:
    with transaction() as session:
        return next(p.id for p in work.photos(session, order_id) if p.source_name == name)


def _marked(page) -> dict[str, str]:  # noqa: ANN001 - a Playwright page
    """Each frame's verdict as the page shows it."""
    return {f.get_attribute("data-photo"): f.locator("input[type=radio]:checked").get_attribute("value")
            for f in page.locator(".frame").all()}


def test_the_marks_survive_a_reload_and_the_back_button_and_go_once_the_decision_is_given(home, monkeypatch):
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        prefilled = _marked(page)
        assert prefilled == {"A.jpg": "keep", "B.jpg": "reject", "C.jpg": "reject", "D.jpg": "keep"}
        page.keyboard.press("k")                    # A: keep (as it was)
        page.keyboard.press("k")                    # B: keep, against the suggestion
        page.keyboard.press("ArrowRight")
        page.keyboard.press("x")                    # D: reject
        page.fill('.frame[data-photo="D.jpg"] input[type=text]', "bride's eyes half shut")
        mine = {"A.jpg": "keep", "B.jpg": "keep", "C.jpg": "reject", "D.jpg": "reject"}
        assert _marked(page) == mine

        page.reload()
        assert _marked(page) == mine
        assert "reject" in page.locator('.frame[data-photo="D.jpg"]').get_attribute("class")
        assert page.locator('.frame[data-photo="D.jpg"] input[type=text]').input_value() == "bride's eyes half shut"
        assert "Your marks on 3 frame(s) from before are back" in page.locator("#draft").inner_text()

        page.click(f"a[href='/orders/{order_id}']")                 # to the order page, and back
        page.go_back()
        page.wait_for_selector(".frame")
        assert _marked(page) == mine

        page.click("#give-decision")
        assert "2 approved; C.jpg culled (blurred); D.jpg culled (other)" in page.locator("#decided").inner_text()
        page.goto(f"{base}/orders/{order_id}/originals")
        assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('postline-originals:')).length") == 0
    with transaction() as session:
        statuses = {p.source_name: p.status for p in work.photos(session, order_id)}
    assert statuses["B.jpg"] is PhotoStatus.INGESTED and statuses["D.jpg"] is PhotoStatus.CULLED


def test_forget_them_brings_the_prefill_back(home, monkeypatch):
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        page.keyboard.press("x")                    # A: reject
        page.reload()
        assert _marked(page)["A.jpg"] == "reject"
        page.click("#forget-draft")
        page.wait_for_selector(".frame")
        assert _marked(page) == {"A.jpg": "keep", "B.jpg": "reject", "C.jpg": "reject", "D.jpg": "keep"}
        assert page.locator("#draft").is_hidden()


def test_a_refused_decision_comes_back_as_marked_and_sent_again_gives_the_marks(home, monkeypatch):
    """Another frame came in for review after the page was loaded: the decision is refused, and the page comes
    back with the reviewer's marks (not the pre-fill: a second click sent the suggestion instead of their cull)."""
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        page.evaluate("localStorage.clear()")       # no draft in this browser: the server's page alone
        page.keyboard.press("k")
        page.keyboard.press("k")                    # B: keep
        page.keyboard.press("ArrowRight")
        page.keyboard.press("x")                    # D: reject
        with transaction() as session:              # E.jpg comes in meanwhile
            path = home / "E.jpg"
            Image.new("RGB", (300, 200), (90, 90, 90)).save(path)
            work.add_photo(session, Photo(order_id=order_id, source_name="E.jpg", sha256="e" * 64,
                                          size_bytes=path.stat().st_size, status=PhotoStatus.INGESTED,
                                          capture_time=T0 + timedelta(seconds=400), original_path=str(path)),
                           first_stage="cull_grade")
        page.evaluate("localStorage.clear()")
        page.click("#give-decision")
        assert "changed since this page was loaded" in page.locator("#decision-error").inner_text()
        assert _marked(page) == {"A.jpg": "keep", "B.jpg": "keep", "C.jpg": "reject", "D.jpg": "reject",
                                 "E.jpg": "keep"}
        page.click("#give-decision")
        assert "3 approved; C.jpg culled (blurred); D.jpg culled (other)" in page.locator("#decided").inner_text()


def test_a_review_given_meanwhile_in_another_tab_is_said_so(home, monkeypatch):
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        other = page.context.new_page()
        other.goto(f"{base}/orders/{order_id}/originals")
        other.click("#give-decision")
        assert "2 approved" in other.locator("#decided").inner_text()
        page.keyboard.press("k")
        page.click("#give-decision")
        said = page.locator("#decision-error").inner_text()
        assert f"No original of order {order_id} waits for review any more" in said
        assert "Nothing of yours was applied" in said


def test_beside_the_button_the_decision_adds_up_as_frames_are_marked(home, monkeypatch):
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        page.evaluate("localStorage.clear()")
        assert page.locator("#tally").inner_text() == "2 kept, 2 culled, of 4 frame(s)"     # the pre-fill
        page.keyboard.press("k")
        page.keyboard.press("k")                    # B: keep
        assert page.locator("#tally").inner_text() == "3 kept, 1 culled, of 4 frame(s)"
        page.click('.frame[data-photo="D.jpg"] input[value="reject"]')
        assert page.locator("#tally").inner_text() == "2 kept, 2 culled, of 4 frame(s)"
        page.click("#give-decision")
        assert "2 approved; C.jpg culled (blurred); D.jpg culled (other)" in page.locator("#decided").inner_text()


def _add_frame(session, home: Path, order_id: int, name: str, *, seconds: int, bits: int,  # noqa: ANN001
               colour: tuple[int, int, int], blur: float = 0.3) -> None:
    """A plain frame taken ``seconds`` after T0, with cull signals whose hash is ``bits`` ones (alike by count)."""
    path = home / name
    Image.new("RGB", (300, 200), colour).save(path)
    photo = work.add_photo(session, Photo(order_id=order_id, source_name=name, sha256=f"{bits:064x}",
                                          size_bytes=path.stat().st_size, status=PhotoStatus.INGESTED,
                                          capture_time=T0 + timedelta(seconds=seconds), original_path=str(path)),
                           first_stage="cull_grade")
    cull_record.add_signals(session, CullSignals(
        photo_id=photo.id, order_id=order_id, source="image", width=300, height=200, subject="region", blur=blur,
        motion=0.05, motion_angle=0, highlights=0.0, shadows=0.0, median_luma=0.45, faces=0, eyes="",
        phash=f"{(1 << bits) - 1:016x}"))


def test_frames_alike_but_taken_apart_are_not_called_a_burst(home, monkeypatch):
    """E and F are the same picture taken ten minutes apart (the couple posed again): side by side, as alike frames
    taken apart, not as a burst; A and B, a second apart, stay a burst."""
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with transaction() as session:
        _add_frame(session, home, order_id, "E.jpg", seconds=1000, bits=50, colour=(120, 90, 60), blur=0.3)
        _add_frame(session, home, order_id, "F.jpg", seconds=1600, bits=51, colour=(120, 90, 60), blur=0.35)
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        groups = page.locator("section.burst")
        assert groups.count() == 2
        assert groups.nth(0).locator("h3").inner_text() == "burst 1"
        assert "best of the burst" in groups.nth(0).locator('.frame[data-photo="A.jpg"]').inner_text()
        assert groups.nth(1).locator("h3").inner_text() == "alike frames 2"
        assert [f.get_attribute("data-photo") for f in groups.nth(1).locator(".frame").all()] == ["E.jpg", "F.jpg"]
        assert "best of these" in groups.nth(1).locator('.frame[data-photo="E.jpg"]').inner_text()
        assert "burst" not in groups.nth(1).inner_text()


def test_space_shows_the_frame_large_and_k_x_and_the_arrows_work_there(home, monkeypatch):
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        page.evaluate("localStorage.clear()")
        focused = "document.activeElement.dataset.photo"
        page.keyboard.press("ArrowDown")            # from the burst's first frame to the row below: C
        assert page.evaluate(focused) == "C.jpg"
        page.keyboard.press("ArrowUp")
        assert page.evaluate(focused) == "A.jpg"

        page.keyboard.press(" ")
        assert page.locator("#loupe").is_visible()
        until(page, "document.querySelector('#loupe img').complete && document.querySelector('#loupe img').naturalWidth > 0")
        assert page.evaluate("document.querySelector('#loupe img').src").endswith(f"/originals/{_id(order_id, 'A.jpg')}/large.jpg")
        assert page.evaluate("document.querySelector('#loupe img').naturalWidth") == 300        # the whole original
        assert "A.jpg · keep" in page.locator("#loupe-caption").inner_text()
        page.keyboard.press("x")                    # A rejected there, and on to B, large
        assert "B.jpg · reject" in page.locator("#loupe-caption").inner_text()
        page.keyboard.press("k")                    # B kept, against the suggestion
        assert "C.jpg" in page.locator("#loupe-caption").inner_text()
        page.keyboard.press("ArrowLeft")
        assert "B.jpg · keep" in page.locator("#loupe-caption").inner_text()
        page.keyboard.press("Escape")
        assert page.locator("#loupe").is_hidden() and page.evaluate(focused) == "B.jpg"
        assert _marked(page) == {"A.jpg": "reject", "B.jpg": "keep", "C.jpg": "reject", "D.jpg": "keep"}
        page.click('.frame[data-photo="D.jpg"] img')     # a click on the picture shows it large too
        assert "D.jpg · keep" in page.locator("#loupe-caption").inner_text()


def test_the_grid_names_the_files_of_the_card_that_could_not_be_taken_in(home, monkeypatch):
    """The photographer reviewing the originals still has the card: the grid says which files did not come in."""
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with transaction() as session:
        work.add_photo(session, Photo(order_id=order_id, source_name="DSC_9000.NEF", sha256="f" * 64, size_bytes=0,
                                      status=PhotoStatus.REJECTED,
                                      reason="DSC_9000.NEF: empty file (0 bytes). The copy from the card failed: "
                                             "copy it again; the order's next run takes the new copy."),
                       first_stage=None)
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        said = page.locator("#not-taken-in").inner_text()
        assert "1 file(s) of the card could not be taken in" in said
        assert "DSC_9000.NEF: empty file (0 bytes)" in said
        assert page.locator(".frame").count() == 4


def test_a_wedding_of_2000_frames_is_culled_from_the_keyboard_without_waiting(home, monkeypatch):
    """Every K or X made the browser lay out and paint all 2,000 frames again: 0.2-0.3 s a key here (a photographer
    presses several a second). Frames away from the screen are not drawn now."""
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    shared = home / "A.jpg"                     # one small picture for all of them: the page is what is measured
    with transaction() as session:
        for n in range(2000):
            photo = work.add_photo(session, Photo(order_id=order_id, source_name=f"W/IMG_{n:04d}.jpg",
                                                  sha256=f"{n + 1000:064x}", size_bytes=shared.stat().st_size,
                                                  status=PhotoStatus.INGESTED, original_path=str(shared),
                                                  capture_time=T0 + timedelta(seconds=1000 + 60 * n)),
                                   first_stage="cull_grade")
            cull_record.add_signals(session, CullSignals(
                photo_id=photo.id, order_id=order_id, source="image", width=300, height=200, subject="region",
                blur=0.3, motion=0.05, motion_angle=0, highlights=0.0, shadows=0.0, median_luma=0.45, faces=0,
                eyes="", phash=f"{(n * 0x9E3779B97F4A7C15) % (1 << 64):016x}"))
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals", wait_until="domcontentloaded")
        assert page.locator(".frame").count() == 2004
        drawn = "document.querySelector('.frame[data-photo=\"W/IMG_%s.jpg\"]').checkVisibility({contentVisibilityAuto: true})"
        assert page.evaluate(drawn % "0000") and not page.evaluate(drawn % "1496")   # far from the screen: not drawn
        culled = int(page.locator("#tally-culled").inner_text())
        page.evaluate("document.querySelectorAll('.frame')[1500].focus()")
        page.keyboard.press("k")                   # ... until the keyboard gets there
        for _ in range(10):
            page.keyboard.press("x")
        assert page.evaluate("document.activeElement.dataset.photo") == "W/IMG_1507.jpg"
        assert "reject" in page.locator('.frame[data-photo="W/IMG_1506.jpg"]').get_attribute("class")
        assert page.evaluate(drawn % "1507") and not page.evaluate(drawn % "0000")
        assert page.locator("#tally").inner_text() == f"{2004 - culled - 10} kept, {culled + 10} culled, of 2004 frame(s)"


def test_the_grid_goes_as_the_day_went_with_each_burst_where_it_was_taken(home, monkeypatch):
    """Every burst of the day came first and the single frames after them, so the ceremony's singles came after the
    reception's bursts. E and F, a burst at 150 s, come between C (100 s) and D (200 s)."""
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with transaction() as session:
        _add_frame(session, home, order_id, "E.jpg", seconds=150, bits=45, colour=(60, 90, 120))
        _add_frame(session, home, order_id, "F.jpg", seconds=151, bits=46, colour=(60, 90, 120))
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        shown = [f.get_attribute("data-photo") for f in page.locator(".frame").all()]
        assert shown == ["A.jpg", "B.jpg", "C.jpg", "E.jpg", "F.jpg", "D.jpg"]
        assert [h.inner_text() for h in page.locator("section.burst h3").all()] == ["burst 1", "burst 2"]
        for _ in range(2):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("k")                     # C, then on to the burst taken after it
        assert page.evaluate("document.activeElement.dataset.photo") == "E.jpg"


def test_the_grid_says_when_two_cameras_clocks_were_not_set_right(home, monkeypatch):
    from record import clocks

    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    order_id = _order(home)
    with transaction() as session:
        for photo in work.photos(session, order_id):
            photo.camera_make, photo.camera_model = ("NIKON CORPORATION", "NIKON Z 6_2") if photo.source_name in (
                "A.jpg", "B.jpg") else ("Canon", "Canon EOS R6")
    with served(create_app()) as base, chromium_page() as page:
        sign_in(page, base, "sergei", PASSWORD)
        page.goto(f"{base}/orders/{order_id}/originals")
        said = page.locator("#cameras").inner_text()
        assert "clocks as the cameras wrote them, not compared (postline order cameras" in said and "`" not in said
        assert f"Set it right with postline order clock {order_id}" in said
        with transaction() as session:
            clocks.set_shift(session, order_id, "NIKON Z 6_2", timedelta(minutes=5), how="+5m", actor="sergei")
        page.reload()
        said = page.locator("#cameras").inner_text()
        assert "clocks set right" in said and "Set it right" not in said
