"""The client's selection end to end: an order created by `postline order create` grades its photos, then its
real Prefect run waits at the client selection gate; the client opens the gallery link `postline gallery` made
(a PIN asked), over real HTTP on a real `postline web` (uvicorn), and sends what the gallery page's form sends.
Only the favourites get retouch work items, the note reaches the retoucher's work item (CLI and web page), the
other photos are delivered graded. A changed, expired or wrong-PIN link is refused. Then: the same in headless
Chromium; an overdue selection's reminder e-mailed to a real local SMTP server (aiosmtpd); `--no-selection`."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
import zipfile
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timedelta
from email import message_from_bytes
from html import escape
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlmodel import select

from record import black_and_white, links, moves, people, ratings, selection, work
from record.db import transaction
from record.models import (
    CLIENT_SELECTION, ClientLink, ClientPick, EventKind, OrderStatus, Photo, PhotoStatus, ShootType, StageEvent, WorkItem,
    WorkStatus,
)
from record.rounds import RevisionError
from surfaces.actions.client import request_changes
from surfaces.actions.queue import hand_back
from surfaces.web import create_app
from tasks.files import sha256_of, work_path
from tasks.pixels import imageio
from tasks.pixels.ratings import FrameRating
from tasks.synthetic import write_card
from tests.browser import chromium_page, free_port, served, until
from tests.flowkit import MANUAL_SKIN_LINE, Delivery, cli, wait_until_paused
from tests.test_links import changed
from tests.test_web import PASSWORD

RETOUCH = ("liquify_skin", "fine_retouch", "design_layout")
PIN = "2468"


@pytest.fixture
def studio(line_file, monkeypatch, home):
    line_file(MANUAL_SKIN_LINE)
    monkeypatch.setenv("POSTLINE_STUDIO_NAME", "Studio Lumen")
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=PASSWORD)
    return home


def gallery_rows(html: str) -> dict[str, int]:
    """The gallery form's rows: photo name -> its index."""
    return {name: int(index) for index, name in re.findall(r'name="photo-(\d+)" value="([^"]+)"', html)}


def items_by_photo(order_id: int) -> dict[str, set[str]]:
    with transaction() as session:
        names = {p.id: p.source_name for p in work.photos(session, order_id)}
        found = defaultdict(set)
        for item in session.exec(select(WorkItem).where(WorkItem.order_id == order_id)).all():
            found[names[item.photo_id]].add(item.stage)
    return found


def test_an_order_waits_for_the_clients_selection_and_retouches_only_the_favourites(studio, tmp_path, monkeypatch,
                                                                                     prefect_api):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    card = write_card(tmp_path / "card", 4)
    code, out = cli("order", "create", "--client", "Anna & Ben", "--shoot", "wedding", "--from", str(card),
                    "--package", "1")
    assert code == 0 and "postline gallery" in out
    order_id = int(out.strip().splitlines()[-1])
    from flows.order import order_flow

    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("package", order_flow(order_id)), daemon=True)
    runner.start()
    assert wait_until_paused(order_id, CLIENT_SELECTION, runner) == f"Client selection · order {order_id}"
    assert all(stages == {"cull_grade"} for stages in items_by_photo(order_id).values())   # graded, then waiting

    with served(create_app()) as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        code, out = cli("gallery", str(order_id), "--days", "7", "--pin", PIN)
        assert code == 0 and "4 graded photo(s) to choose from" in out
        url = out.strip().splitlines()[-1]
        client = httpx.Client(timeout=60)

        assert client.get(url).status_code == 401                                     # the PIN first
        token = url.rsplit("/", 1)[1]
        assert client.get(changed(url)).status_code == 404                            # changed: refused
        refused = client.post(url, data={"pin": "1357"})
        assert refused.status_code == 403 and "not right" in refused.text
        assert client.post(url, data={"pin": PIN}, follow_redirects=False).status_code == 303
        page = client.get(url)
        assert page.status_code == 200 and "Studio Lumen" in page.text and "up to <strong>1</strong>" in page.text
        rows = gallery_rows(page.text)
        names = sorted(rows)
        assert len(names) == 4
        proof = client.get(base + re.search(r'src="(/g/[^"]+/photos/\d+\.jpg)"', page.text).group(1))
        picture = Image.open(io.BytesIO(proof.content))
        assert proof.status_code == 200 and picture.format == "JPEG" and max(picture.size) <= 1400

        favourite, album = names[0], names[2]
        form = {f"photo-{rows[n]}": n for n in names}
        form |= {f"fav-{rows[favourite]}": "1", f"note-{rows[favourite]}": "soften the shadow under the veil",
                 f"fav-{rows[album]}": "1", f"album-{rows[album]}": "1", f"bw-{rows[album]}": "1"}
        too_many = dict(form) | {f"album-{rows[favourite]}": "1"}                      # 2 album photos, package 1
        said = client.post(f"{url}/selection", data=too_many)
        assert said.status_code == 422 and ("You picked 2 photos for your album, and your package holds 1: untick 1. "
                                            "Nothing was sent.") in said.text
        assert f"order {order_id}" not in said.text                   # the client's words, not the studio's
        asked = client.post(f"{url}/selection", data=form)             # first, what it holds: to confirm
        assert asked.status_code == 200 and "You marked <strong>2 favourites (1 for your album, 1 also in black and " \
            "white, 1 with a note)</strong>" in asked.text and 'name="confirmed"' in asked.text
        assert gallery_rows(asked.text) == rows and "soften the shadow under the veil</textarea>" in asked.text
        with transaction() as session:
            assert not selection.picks(session, order_id)              # nothing sent yet
        sent = client.post(f"{url}/selection", data=confirmed(form), follow_redirects=True)
        assert sent.status_code == 200 and "we have your selection" in sent.text
        again = client.post(f"{url}/selection", data=confirmed(form))     # sent twice: once is taken
        assert again.status_code == 422 and "sent already" in again.text

        two_weeks_on = time.time() + 14 * 86400
        with served(create_app(clock=lambda: two_weeks_on)) as later:                 # the same link, expired
            assert httpx.get(f"{later}/g/{token}", timeout=30).status_code == 410

        wait_until_paused(order_id, "liquify_skin", runner)
        said = ""
        while True:
            code, out = cli("queue", "pull", "--as", "rita", "--to", str(tmp_path / "rita"))
            if code == 3:
                break
            said += out
            item_id = int(re.search(r"Work item (\d+):", out).group(1))
            if "soften" in out:
                rita = httpx.Client(base_url=base, timeout=60)
                csrf = re.search(r'name="csrf" value="([^"]+)"', rita.get("/signin").text).group(1)
                rita.post("/signin", data={"name": "rita", "password": PASSWORD, "csrf": csrf})
                assert "The client asks:</strong> “soften the shadow under the veil”" in rita.get(
                    f"/items/{item_id}").text
            working = Path(out.strip().splitlines()[-1])
            done = working.with_name(working.stem + "-done.tif")
            imageio.write_working_tiff(done, imageio.read_working_tiff(working) * 0.97)
            hand_back(item_id=item_id, person="rita", file=done)
        assert said.count("The client asks: “soften the shadow under the veil”") == 1
        assert said.count("The client asks: also in black and white") == 1                 # the album photo
        assert said.count("Work item") == 2                              # the two favourites, nothing else
        runner.join(timeout=180)
        delivery = Delivery(Path(result["package"]))
        stages = items_by_photo(order_id)

        # Delivered: the same link now takes change requests, a counted client revision round.
        page = client.get(url)
        rows, graded_only = gallery_rows(page.text), names[1]
        assert "Your photos are delivered" in page.text and sorted(rows) == names
        assert page.text.count('name="change-') == len(names) and "Write to us" not in page.text
        for name in names:                # each captioned with its name in the client's download, and the camera's
            in_download = Path(next(e["path"] for e in delivery.manifest["files"] if e["source_name"] == name)).stem
            assert f'<span class="delivered-name">{escape(in_download)}</span> <span class="muted">· {name}</span>' \
                in page.text
        with pytest.raises(RevisionError, match="not delivered in order"):    # refused whole: its black-and-white
            request_changes(order_id, changes=[("gone.dng", "brighter")], client="Chloé",    # tick not kept either
                            in_black_and_white=[favourite])
        with transaction() as session:
            assert len(black_and_white.requested(session, order_id)) == 1              # the album photo's alone
        asked = client.post(f"{url}/changes", follow_redirects=True, data={f"photo-{i}": n for n, i in rows.items()}
                            | {f"change-{rows[graded_only]}": "1", f"note-{rows[graded_only]}": "crop tighter"})
        assert asked.status_code == 200 and "we have your requests" in asked.text

    assert {n for n, s in stages.items() if s & set(RETOUCH)} == {favourite, album}
    assert all(stages[n] == {"cull_grade", "qc_gate"} for n in names if n not in (favourite, album))
    assert delivery.delivered_sources() == set(names) and not delivery.mismatches()
    assert {e["source_name"] for e in delivery.manifest["files"] if e.get("rendition", "").endswith("-bw")} == {album}
    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        kinds = {photos_name: kind for photos_name, kind in (
            (session.get(Photo, e.photo_id).source_name, e.kind) for e in session.exec(
                select(StageEvent).where(StageEvent.order_id == order_id, StageEvent.stage == CLIENT_SELECTION)))}
        picks = {session.get(Photo, p.photo_id).source_name: p for p in session.exec(select(ClientPick)).all()}
        finished = {n: work.finished_output(session, p.id, ["cull_grade", *RETOUCH]).stage for n, p in photos.items()}
    assert {n: p.status for n, p in photos.items()} == {n: PhotoStatus.INGESTED if n == graded_only        # back in
                                                         else PhotoStatus.DELIVERED for n in names}      # the line
    assert kinds == {n: EventKind.SELECTED if n in (favourite, album) else EventKind.GRADED_ONLY for n in names}
    assert picks[album].album and not picks[favourite].album and picks[favourite].note.startswith("soften")
    assert finished == {n: "design_layout" if n in (favourite, album) else "cull_grade" for n in names}

    code, out = cli("status", str(order_id))
    assert "Client selection: 2 favourites, 2 graded only, 1 album, 1 notes" in out
    assert out.splitlines()[0].endswith(" · revision") and "client revision rounds: 1" in out
    with transaction() as session:
        redo = [i for i in work.items_in(session, order_id, "liquify_skin") if i.photo_id == photos[graded_only].id]
        from record.selection import client_notes

        assert [(i.round, client_notes(session, redo)[i.id]) for i in redo] == [(2, "client revision 1: crop tighter")]
        graded = work.final_output(session, photos[graded_only].id, "cull_grade")     # retouched from its graded
        assert redo[0].input_path == graded.output_path != photos[graded_only].original_path   # file, not its RAW


# --- an order waiting for its client, without a run (the gallery records the selection directly) ----------------

def confirmed(form: dict) -> dict:
    """The gallery's form as its confirmation's *Yes, send my selection* posts it: with the digest of its marks."""
    from surfaces.web_client import _rows, selection_digest

    return {k: v for k, v in form.items() if k != "confirmed"} | {"confirmed": selection_digest(_rows(form))}


def awaiting_order(home: Path, photos: int = 4, *, package: int = 0) -> int:
    """An order with a client selection whose ``photos`` photos are graded (a real working TIFF and proof each)
    and wait for the client."""
    with transaction() as session:
        order = work.create_order(session, client="Chloé", shoot=ShootType.WEDDING, preset_name="neutral",
                                  preset_version=1, preset_hash="0" * 64, preset_json="{}", due=None,
                                  card_folder=str(home / "card"))
        order.client_selection, order.package_count = True, package
        for n in range(photos):
            graded_photo(session, order.id, n)
        return order.id


def graded_photo(session, order_id: int, n: int) -> None:  # noqa: ANN001 - a Session
    """Photo ``IMG_{n + 1:04d}.dng`` of the order, graded (a real working TIFF and proof), waiting for the client."""
    photo = work.add_photo(session, Photo(order_id=order_id, source_name=f"IMG_{n + 1:04d}.dng",
                                          sha256=f"{n:064d}", size_bytes=1, status=PhotoStatus.INGESTED,
                                          original_path=f"/card/IMG_{n + 1:04d}.dng"), first_stage="cull_grade")
    y, x = np.mgrid[0:300, 0:450].astype(np.float32)
    scene = np.stack([x / 450, y / 300, np.full_like(x, 0.2 + 0.15 * n)], axis=2)
    tif = imageio.write_working_tiff(work_path(order_id, "cull_grade", photo.id, 1), scene)
    imageio.write_jpeg(work_path(order_id, "proofs", photo.id, 1, ".jpg"), scene)
    item = work.claim_queued(session, work.items_in(session, order_id, "cull_grade")[-1].id)
    moves.move_item(session, item, WorkStatus.SUBMITTED, actor=work.AUTO_WORKER, output_path=str(tif),
                    output_sha256=sha256_of(tif))


def test_in_chromium_the_client_marks_two_favourites_writes_a_note_and_sends(studio, monkeypatch):
    order_id = awaiting_order(studio, package=2)
    with transaction() as session:                      # the photographer starred one frame on the card
        photo = next(p for p in work.photos(session, order_id) if p.source_name == "IMG_0003.dng")
        ratings.put(session, order_id, photo.id, FrameRating(stars=3, source="IMG_0003.xmp"))
    with served(create_app()) as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        url = cli("gallery", str(order_id))[1].strip().splitlines()[-1]
        with chromium_page() as page:
            page.goto(url)
            assert page.locator("figure.pick img").count() == 4
            until(page, "document.images[0].complete && document.images[0].naturalWidth > 0")
            assert page.locator(".pick-badge").count() == 1
            assert "★ the photographer's pick" in page.locator("figure.pick", has_text="IMG_0003.dng").inner_text()
            page.locator('input.fav[data-photo="IMG_0002.dng"]').check()
            page.locator('input.fav[data-photo="IMG_0004.dng"]').check()
            page.locator("figure.pick", has_text="IMG_0004.dng").locator("textarea").fill("brighter eyes, please")
            page.locator("label.only-picks").click()                  # only the photographer's picks shown
            assert [f.is_visible() for f in page.locator("figure.pick").all()] == [False, False, True, False]
            page.locator("#send-selection").click()                   # the hidden photos' rows are sent all the same
            assert page.locator("#confirm").inner_text().startswith("You marked 2 favourites (1 with a note).")
            assert page.locator('input.fav[data-photo="IMG_0004.dng"]').is_checked()      # as marked, to change
            page.locator('input.fav[data-photo="IMG_0003.dng"]').focus()
            with page.expect_navigation():
                page.keyboard.press("Enter")                # Enter on a tick (Chromium sends the form): asked again
            assert page.locator("#confirm").inner_text().startswith("You marked 2 favourites (1 with a note).")
            with transaction() as session:
                assert not selection.picks(session, order_id)         # nothing sent before it is confirmed
            page.locator('input.fav[data-photo="IMG_0001.dng"]').check()                 # marked after the question:
            page.locator("#confirm-send").click()                                        # asked again, not sent
            assert page.locator("#confirm").inner_text().startswith("You marked 3 favourites (1 with a note).")
            with transaction() as session:
                assert not selection.picks(session, order_id)
            page.locator('input.fav[data-photo="IMG_0001.dng"]').uncheck()
            page.locator("#send-selection").click()
            page.locator("#confirm-send").click()
            assert page.locator("#sent").inner_text() == "Thank you: we have your selection."
            assert page.locator("figure.pick").count() == 2 and "brighter eyes, please" in page.content()
    with transaction() as session:
        names = {p.id: p.source_name for p in work.photos(session, order_id)}
        picks = {names[p.photo_id]: (p.favourite, p.note) for p in session.exec(select(ClientPick)).all()}
        queued = {names[i.photo_id]: i.stage for i in work.items_in(session, order_id, "liquify_skin")}
        queued |= {names[i.photo_id]: i.stage for i in work.items_in(session, order_id, "qc_gate")}
    assert picks == {"IMG_0001.dng": (False, ""), "IMG_0002.dng": (True, ""), "IMG_0003.dng": (False, ""),
                     "IMG_0004.dng": (True, "brighter eyes, please")}
    assert queued == {"IMG_0001.dng": "qc_gate", "IMG_0002.dng": "liquify_skin", "IMG_0003.dng": "qc_gate",
                      "IMG_0004.dng": "liquify_skin"}


def test_the_address_a_send_leaves_in_the_browser_opens_the_gallery_again(studio, monkeypatch):
    """After a refused send the browser shows /g/<token>/selection; reloading it said the link did not work."""
    order_id = awaiting_order(studio)
    with served(create_app()) as base:
        client, url, rows, _ = _opened_gallery(base, order_id, "IMG_0001.dng", monkeypatch)
        for path in ("selection", "changes"):
            again = client.get(f"{url}/{path}", follow_redirects=True)
            assert again.status_code == 200 and sorted(gallery_rows(again.text)) == sorted(rows), path
        head = client.head(url)                           # a link checker's (or a chat app's preview's) HEAD
        assert head.status_code == 200 and head.content == b""


def test_a_gallery_e_mail_says_what_the_gallery_shows_now():
    """A gallery link e-mailed once the order is delivered asked the client to choose favourites; one sent while
    grading said the photos were ready; every one asked for album picks, also for an order without an album."""
    from record.models import LinkPurpose
    from tasks.mail import link_message

    def said(gallery: str, album: int = 0) -> tuple[str, str]:
        return link_message(purpose=LinkPurpose.GALLERY, client="Chloé", url="https://x/g/t", pin=False,
                            expires=datetime(2026, 12, 24), gallery=gallery, album=album)
    subject, body = said("delivered")
    assert subject.endswith("your photos are delivered: here is your gallery") and "favourites" not in body
    assert "Would you like something changed? Tick the photo" in body
    subject, body = said("preparing")
    assert "ready for you to choose" not in subject and "appear in it as they are prepared" in subject
    assert "pick up to 3 of them for your album" in said("selecting", album=3)[1]
    assert "album" not in said("selecting")[1]


def test_an_overdue_selection_sends_one_reminder_with_the_link(studio, monkeypatch, prefect_api):
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], bytes]] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd's hook
            self.messages.append((list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    order_id = awaiting_order(studio)
    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        monkeypatch.setenv("POSTLINE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("POSTLINE_SMTP_PORT", str(port))
        monkeypatch.setenv("POSTLINE_SMTP_SECURITY", "none")
        monkeypatch.setenv("POSTLINE_SMTP_SENDER", "Studio Lumen <hello@lumen.example>")
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", "https://proofs.lumen.example")
        code, out = cli("gallery", str(order_id), "--pin", PIN, "--email", "chloe@example.com")
        url = out.strip().splitlines()[-1]
        assert code == 0 and "E-mailed to chloe@example.com" in out and len(inbox.messages) == 1
        monkeypatch.setenv("PREFECT_API_URL", prefect_api)
        from flows.reminders import client_reminders_flow

        assert client_reminders_flow() == 0                                # made today: not overdue
        with transaction() as session:
            link = session.exec(select(ClientLink)).one()
            link.created_at -= timedelta(days=8)                            # the client was asked 8 days ago
            session.add(link)
        assert "selection OVERDUE" in cli("status")[1]
        assert "OVERDUE since" in cli("status", str(order_id))[1]
        assert client_reminders_flow() == 1
        assert client_reminders_flow() == 0                                # one reminder, not one per run
    finally:
        smtp.stop()
    assert [to for to, _ in inbox.messages] == [["chloe@example.com"], ["chloe@example.com"]]
    reminder = message_from_bytes(inbox.messages[1][1])
    body = reminder.get_payload(decode=True).decode()
    assert reminder["Subject"] == "Reminder: your selection for Studio Lumen" and url in body and PIN not in body
    first = message_from_bytes(inbox.messages[0][1])
    text = first.get_payload(decode=True).decode()
    assert first["Subject"] == "Studio Lumen: your photos are ready for you to choose your favourites"
    assert first["Date"] and reminder["Date"]                      # mail clients sort and show by it
    assert "Mark your favourites (we retouch those), leave a note" in text and "album" not in text   # no album
    with transaction() as session:
        link = session.exec(select(ClientLink)).one()
        assert link.reminders == 1 and links.live(link, link.reminded_at)
    assert "reminded 1x" in cli("status", str(order_id))[1]
    with transaction() as session:          # the link ran out unanswered: said so (it read "no gallery link yet")
        link = session.exec(select(ClientLink)).one()
        link.expires_at = link.created_at + timedelta(days=7)
        session.add(link)
        expired = f"{links.expiry(link):%Y-%m-%d}"
    assert "gallery link EXPIRED unanswered" in cli("status")[1]
    assert (f"their gallery link {link.id} EXPIRED {expired} unanswered (`postline gallery {order_id}` makes a new "
            "one)") in cli("status", str(order_id))[1]


def test_no_selection_runs_an_order_straight_through(line_file, home, tmp_path):
    line_file(MANUAL_SKIN_LINE.replace('mode = "manual"', 'operation = "skin"'))
    card = write_card(tmp_path / "card", 2)
    code, out = cli("order", "create", "--client", "Dana", "--shoot", "portrait", "--from", str(card),
                    "--no-selection")
    order_id = int(out.strip().splitlines()[-1])
    assert code == 0 and "postline gallery" not in out
    code, out = cli("order", "run", str(order_id))
    assert code == 0 and (Path(out.strip().splitlines()[-1]) / "manifest.json").is_file()     # its package
    assert all(stages == {"cull_grade", *RETOUCH, "qc_gate"} for stages in items_by_photo(order_id).values())
    with transaction() as session:
        assert session.exec(select(StageEvent).where(StageEvent.stage == CLIENT_SELECTION)).all() == []


def test_a_client_who_sends_before_every_photo_is_graded_chooses_among_the_late_ones_after(studio, monkeypatch):
    """The gallery shows photos as grading finishes them: sent early, the selection covers those; the photos graded
    after show with what was sent already, and may be sent with no favourite at all (the first send had some).
    The album's count is the package's across both sends."""
    order_id = awaiting_order(studio, photos=3, package=1)
    with transaction() as session:                              # a fourth frame, still being graded
        late = work.add_photo(session, Photo(order_id=order_id, source_name="IMG_0004.dng", sha256="4" * 64,
                                             size_bytes=1, status=PhotoStatus.INGESTED,
                                             original_path="/card/IMG_0004.dng"), first_stage="cull_grade")
        late_id = late.id
    with served(create_app()) as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        code, out = cli("gallery", str(order_id))
        assert "3 graded photo(s) to choose from" in out and "1 more photo(s) are still being graded" in out
        url = out.strip().splitlines()[-1]
        client = httpx.Client(timeout=60)
        page = client.get(url).text
        assert "1 more photo(s) are still being prepared" in page and 'id="sent-before"' not in page
        rows = gallery_rows(page)
        assert sorted(rows) == ["IMG_0001.dng", "IMG_0002.dng", "IMG_0003.dng"]
        form = confirmed({f"photo-{i}": n for n, i in rows.items()} | {f"album-{rows['IMG_0002.dng']}": "1"})
        assert "we have your selection" in client.post(f"{url}/selection", data=form, follow_redirects=True).text

        with transaction() as session:                          # the fourth is graded now
            tif = imageio.write_working_tiff(work_path(order_id, "cull_grade", late_id, 1),
                                             np.full((300, 450, 3), 0.4, np.float32))
            imageio.write_jpeg(work_path(order_id, "proofs", late_id, 1, ".jpg"), np.full((300, 450, 3), 0.4, np.float32))
            item = work.claim_queued(session, next(i for i in work.items_in(session, order_id, "cull_grade")
                                                   if i.photo_id == late_id).id)
            moves.move_item(session, item, WorkStatus.SUBMITTED, actor=work.AUTO_WORKER, output_path=str(tif),
                            output_sha256=sha256_of(tif))
        page = client.get(url).text
        assert 'id="sent-before"' in page and "preparing-more" not in page
        rows = gallery_rows(page)
        assert sorted(rows) == ["IMG_0004.dng"]
        refused = client.post(f"{url}/selection", data=confirmed({"photo-0": "IMG_0004.dng", "album-0": "1"}))
        assert refused.status_code == 422 and ("You picked 1 photo for your album (and 1 in the selection you sent "
                                               "before), and your package holds 1: untick 1.") in refused.text
        sent = client.post(f"{url}/selection", data=confirmed({"photo-0": "IMG_0004.dng"}),
                           follow_redirects=True)
        assert sent.status_code == 200 and "we have your selection" in sent.text          # no favourite this time
    with transaction() as session:
        picks = {p.photo_id: (p.favourite, p.album) for p in session.exec(select(ClientPick)).all()}
        names = {p.id: p.source_name for p in work.photos(session, order_id)}
    assert {names[i]: pick for i, pick in picks.items()} == {
        "IMG_0001.dng": (False, False), "IMG_0002.dng": (True, True), "IMG_0003.dng": (False, False),
        "IMG_0004.dng": (False, False)}


def _opened_gallery(base: str, order_id: int, favourite: str, monkeypatch) -> tuple:  # noqa: ANN001
    """The order's gallery opened by its client on the web page at ``base``: (client, link, rows, the form with
    ``favourite`` marked, confirmed)."""
    monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
    url = cli("gallery", str(order_id))[1].strip().splitlines()[-1]
    client = httpx.Client(timeout=60)
    rows = gallery_rows(client.get(url).text)
    return client, url, rows, confirmed({f"photo-{i}": n for n, i in rows.items()} | {f"fav-{rows[favourite]}": "1"})


def test_a_clients_note_is_kept_without_control_characters_and_a_note_too_long_is_refused_whole(studio, monkeypatch):
    """A note pasted with a NUL (PostgreSQL refuses it in a text column: the whole selection was lost), escape
    codes or a bidi override is kept without them, its line breaks kept; one longer than the box is refused."""
    order_id = awaiting_order(studio)
    with served(create_app()) as base:
        client, url, rows, form = _opened_gallery(base, order_id, "IMG_0002.dng", monkeypatch)
        refused = client.post(f"{url}/selection", data=form | {f"note-{rows['IMG_0002.dng']}": "x" * 1001})
        assert refused.status_code == 422 and "Your note on IMG_0002.dng is longer than 1000 characters" in refused.text
        typed = "warmer\x00 skin\r\nand \x1b[2Jno \u202egnirts\u202c cast, ça va"
        sent = client.post(f"{url}/selection", data=confirmed(form | {f"note-{rows['IMG_0002.dng']}": typed}),
                           follow_redirects=True)
        assert sent.status_code == 200 and "we have your selection" in sent.text
    with transaction() as session:
        notes = {p.note for p in session.exec(select(ClientPick)).all() if p.favourite}
    assert notes == {"warmer skin\nand [2Jno gnirts cast, ça va"}


def test_with_every_stage_automatic_the_gallery_takes_no_note_nor_change_and_says_where_to_write(
        line_file, home, monkeypatch):
    """With the default line (no stage people work) a client's note on a favourite and a change asked for after
    delivery reached nobody: the revised delivery was the same photo, byte for byte. The gallery and its e-mails
    take neither then, and say where to write; a note sent anyway is refused whole."""
    from qc.gates import DecisionError
    from record.models import LinkPurpose
    from tasks.mail import link_message

    line_file(MANUAL_SKIN_LINE.replace('mode = "manual"', 'operation = "skin"'))
    monkeypatch.setenv("POSTLINE_STUDIO_EMAIL", "hello@lumen.example")
    order_id = awaiting_order(home)
    with served(create_app()) as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        url = cli("gallery", str(order_id))[1].strip().splitlines()[-1]
        client = httpx.Client(timeout=60)
        page = client.get(url).text
        rows = gallery_rows(page)
        assert len(rows) == 4 and 'name="note-' not in page and "Leave a note" not in page
        assert "Write to us at <a href=\"mailto:hello@lumen.example\">" in page
        form = confirmed({f"photo-{i}": n for n, i in rows.items()} | {f"fav-{rows['IMG_0002.dng']}": "1"})
        noted = client.post(f"{url}/selection", data=form | {f"note-{rows['IMG_0002.dng']}": "warmer"})
        assert noted.status_code == 422 and "This gallery takes no notes" in noted.text
        assert "Write to us at hello@lumen.example" in noted.text
        with transaction() as session:
            assert selection.picks(session, order_id) == {}                          # nothing was applied
        sent = client.post(f"{url}/selection", data=form, follow_redirects=True)
        assert sent.status_code == 200 and "we have your selection" in sent.text
    with pytest.raises(DecisionError, match="Changes are made on request: nothing was sent. Write to us at "
                                            "hello@lumen.example"):
        request_changes(order_id, changes=[("IMG_0002.dng", "warmer")], client="Chloé")

    def said(gallery: str, by_hand: bool) -> str:
        return link_message(purpose=LinkPurpose.GALLERY, client="Chloé", url="https://x/g/t", pin=False,
                            expires=datetime(2026, 12, 24), gallery=gallery, by_hand=by_hand)[1]
    assert "leave a note" in said("selecting", True) and "leave a note" not in said("selecting", False)
    assert "Tick the photo" in said("delivered", True)
    assert "Write to us at hello@lumen.example, naming the photo" in said("delivered", False)
    assert "Tick the photo" not in said("delivered", False)


def test_a_leads_note_in_a_decision_is_kept_without_control_characters():
    from qc.review import PhotoRejection, ReviewReason

    rejection = PhotoRejection(photo="DSC_0001.dng", reason=ReviewReason.OTHER, send_back_to="fine_retouch",
                               note="\u202especk\x00 on the\tcollar ")
    assert rejection.note == "speck on the\tcollar"


def test_a_photo_graded_while_the_selection_is_sent_stays_for_the_client_to_choose(studio, monkeypatch):
    """The client sends while the rest of the order is still grading: a photo graded between the page's check and
    the decision being applied was recorded 'not chosen by the client: delivered as graded' though the client
    never saw it. Only the photos on the page sent are decided; the new one waits for the client."""
    from surfaces import web_client

    order_id = awaiting_order(studio, photos=3)
    real = web_client.actions.submit_selection

    def graded_meanwhile(order_id, **kwargs):  # noqa: ANN001, ANN202
        with transaction() as session:
            graded_photo(session, order_id, 3)          # IMG_0004.dng, graded a moment after the check
        return real(order_id, **kwargs)

    monkeypatch.setattr(web_client.actions, "submit_selection", graded_meanwhile)
    with served(create_app()) as base:
        client, url, rows, form = _opened_gallery(base, order_id, "IMG_0001.dng", monkeypatch)
        assert sorted(rows) == ["IMG_0001.dng", "IMG_0002.dng", "IMG_0003.dng"]
        sent = client.post(f"{url}/selection", data=form, follow_redirects=True)
        assert sent.status_code == 200
        assert sorted(gallery_rows(sent.text)) == ["IMG_0004.dng"]          # the new one, to choose now
        monkeypatch.setattr(web_client.actions, "submit_selection", real)
        with transaction() as session:                  # one more still grading when the client sends again
            work.add_photo(session, Photo(order_id=order_id, source_name="IMG_0005.dng", sha256="5" * 64,
                                          size_bytes=1, status=PhotoStatus.INGESTED), first_stage="cull_grade")
        rows = gallery_rows(sent.text)
        again = client.post(f"{url}/selection", follow_redirects=True,
                            data=confirmed({f"photo-{rows['IMG_0004.dng']}": "IMG_0004.dng"}))
        assert again.status_code == 200 and "we have your selection" in again.text
        assert ("1 more photo(s) are still being prepared: come back to this page to choose among them too"
                in again.text)
    with transaction() as session:
        names = {p.id: p.source_name for p in work.photos(session, order_id)}
        picks = {names[p.photo_id]: p.favourite for p in session.exec(select(ClientPick)).all()}
        waiting = selection.awaiting(session, order_id)
    assert picks == {"IMG_0001.dng": True, "IMG_0002.dng": False, "IMG_0003.dng": False, "IMG_0004.dng": False}
    assert waiting == {}


def test_two_sends_of_one_selection_at_once_the_second_is_told_it_was_sent_already(studio, monkeypatch):
    """A double click, or a second tab: both sends pass the gallery's check before either is recorded; the one
    recorded second is refused by the gate in the studio's words. The client reads the gallery's."""
    from surfaces import web_client

    order_id = awaiting_order(studio)
    real = web_client.actions.submit_selection

    def other_tab_first(order_id, **kwargs):  # noqa: ANN001, ANN202
        real(order_id, **kwargs)              # the other send, recorded a moment before
        return real(order_id, **kwargs)

    monkeypatch.setattr(web_client.actions, "submit_selection", other_tab_first)
    with served(create_app()) as base:
        client, url, _, form = _opened_gallery(base, order_id, "IMG_0001.dng", monkeypatch)
        second = client.post(f"{url}/selection", data=form)
    assert second.status_code == 422 and "Your selection was sent already" in second.text
    assert "no photo of this order is waiting" not in second.text
    with transaction() as session:
        assert [p.favourite for p in session.exec(select(ClientPick)).all()].count(True) == 1


def test_a_gallery_caption_is_the_photos_file_name_not_the_cards_folders():
    """The client's gallery captioned photos `DCIM/100CANON/IMG_0001.dng`: the card's folders mean nothing to a
    client. The file's name, unless another photo shown has the same one (two cards' IMG_0001)."""
    from collections import Counter

    from surfaces.actions.client import _label

    names = ["DCIM/100CANON/IMG_0001.dng", "DCIM/101CANON/IMG_0001.dng", "DCIM/100NCZ_6/DSC_0087.NEF", "card.dng"]
    files = Counter(name.rsplit("/", 1)[-1].casefold() for name in names)
    assert [_label(name, files) for name in names] == [
        "DCIM/100CANON/IMG_0001.dng", "DCIM/101CANON/IMG_0001.dng", "DSC_0087.NEF", "card.dng"]


def test_the_client_reads_the_studios_troubles_in_their_own_words(studio, monkeypatch):
    """The Prefect server down when the selection is sent: the client read "the Prefect server
    (http://127.0.0.1:4399/api/) kept failing for 15 s ([Errno 111] Connection refused); order 5's run was not
    woken". Now what happened and what to do, in their words; their marks kept on the page, nothing recorded, and
    the studio's own words in the web server's log."""
    import uuid

    from config.settings import get_settings
    from tasks.handoff import wake_order

    order_id = awaiting_order(studio)
    with transaction() as session:                              # the order's run waits for the client
        order = work.get_order(session, order_id)
        order.waiting_on, order.flow_run_id = CLIENT_SELECTION, str(uuid.uuid4())
        session.add(order)
    import prefect.context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):   # nothing listens there,
        monkeypatch.setattr(prefect.context, "GLOBAL_SETTINGS_CONTEXT",                 # for every thread (as
                            prefect.context.SettingsContext.get())                      # Prefect's test harness)
    monkeypatch.setitem(wake_order.__kwdefaults__, "patience", 1.0)
    monkeypatch.setenv("POSTLINE_STUDIO_EMAIL", "hello@lumen.example")
    get_settings.cache_clear()
    with served(create_app()) as base:
        client, url, rows, form = _opened_gallery(base, order_id, "IMG_0002.dng", monkeypatch)
        with _logged("postline.web") as log:
            said = client.post(f"{url}/selection", data=form)
    assert said.status_code == 422
    assert ("We could not take your selection just now: nothing was sent, and your ticks are kept below. Please send "
            "it again in a few minutes. If it still does not go, write to us at hello@lumen.example.") in said.text
    for studios in ("Prefect", "127.0.0.1", f"order {order_id}", "run"):
        assert studios not in said.text.split('id="gallery-error">')[1].split("</p>")[0]
    assert re.search(rf'name="fav-{rows["IMG_0002.dng"]}" value="1" data-photo="IMG_0002.dng" class="fav" checked',
                     said.text)
    assert "kept failing" in log.text and f"order {order_id}" in log.text                # for the studio
    with transaction() as session:
        assert selection.picks(session, order_id) == {}


class _Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text += record.getMessage() + "\n"


@contextmanager
def _logged(name: str):
    handler, logger = _Log(), logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _delivered(order_id: int, tmp_path: Path) -> None:
    """The order delivered: its photos in the client's download (a ZIP of the package)."""
    package = tmp_path / "delivery.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("full/photo.jpg", b"\xff\xd8" + bytes(2000))
    with transaction() as session:
        order = work.get_order(session, order_id)
        order.status, order.delivery_path = OrderStatus.DELIVERED, str(package)
        session.add(order)
        for photo in work.photos(session, order_id):
            photo.status = PhotoStatus.DELIVERED
            session.add(photo)


def test_a_delivered_gallery_leads_to_the_download_and_refuses_what_it_would_drop(studio, monkeypatch, tmp_path):
    """The delivered gallery had no way to the download; a note written without ticking Change this photo was
    dropped, the client told "we have your requests"; pressing send with nothing ticked on a gallery without
    change ticks said "Tick at least one photo to change"."""
    order_id = awaiting_order(studio)
    _delivered(order_id, tmp_path)
    with served(create_app()) as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        url = cli("gallery", str(order_id))[1].strip().splitlines()[-1]
        client = httpx.Client(timeout=60)
        page = client.get(url).text
        assert "Your photos are delivered" in page and 'id="download"' not in page
        assert "Your download link comes from us by e-mail" in page
        code, out = cli("download-link", str(order_id), "--pin", PIN)
        assert code == 0, out
        download = out.strip().splitlines()[-1]
        page = client.get(url).text
        assert f'href="{download.removeprefix(base)}/ready"' in page
        asked = client.post(download, data={"pin": PIN}, follow_redirects=True)        # the PIN, then its page
        assert asked.url.path.endswith("/ready") and "Your photos are ready: one ZIP file of 2 kB" in asked.text
        assert client.get(download).content.startswith(b"PK")                          # the button's address

        rows = gallery_rows(page)
        form = {f"photo-{i}": n for n, i in rows.items()}
        stray = client.post(f"{url}/changes", data=form | {f"note-{rows['IMG_0002.dng']}": "warmer please"})
        assert stray.status_code == 422 and ("You wrote what to change on IMG_0002.dng without ticking Change this "
                                             "photo: tick it, or clear what you wrote. Nothing was sent.") in stray.text
        assert "warmer please</textarea>" in stray.text                               # kept on the page
        nothing = client.post(f"{url}/changes", data=form)
        assert nothing.status_code == 422 and "Nothing was ticked: tick Change this photo on a photo" in nothing.text
    with transaction() as session:
        assert work.get_order(session, order_id).revisions == 0


def test_a_download_that_cannot_be_made_is_said_in_the_clients_words(studio, monkeypatch, tmp_path):
    """The download page named `postline verify` and `postline deliver` to the client."""
    order_id = awaiting_order(studio)
    _delivered(order_id, tmp_path)
    with served(create_app()) as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        download = cli("download-link", str(order_id))[1].strip().splitlines()[-1]
        (tmp_path / "delivery.zip").unlink()                                     # the package gone since
        with _logged("postline.web") as log:
            said = httpx.get(download, timeout=30)
    assert said.status_code == 409 and "Your photos cannot be downloaded just now. Please try again later." in said.text
    assert "postline" not in said.text.replace("Studio Lumen", "") and "Studio Lumen" in said.text
    assert "postline order run" in log.text                                       # for the studio


def test_in_chromium_what_the_client_marked_survives_a_reload_until_it_is_sent(studio, monkeypatch):
    """Nothing was kept until the selection was sent: a phone reloading a tab left in the background lost every
    tick of a 300-photo gallery. The browser keeps a draft as the client marks; it goes once the selection is sent."""
    order_id = awaiting_order(studio)
    with served(create_app()) as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        url = cli("gallery", str(order_id))[1].strip().splitlines()[-1]
        with chromium_page(width=390, height=844) as page:
            page.goto(url)
            page.locator('input.fav[data-photo="IMG_0002.dng"]').check()
            page.locator("figure.pick", has_text="IMG_0002.dng").locator("textarea").fill("softer light, ça va")
            page.reload()
            assert page.locator('input.fav[data-photo="IMG_0002.dng"]').is_checked()
            assert not page.locator('input.fav[data-photo="IMG_0001.dng"]').is_checked()
            assert page.locator("figure.pick", has_text="IMG_0002.dng").locator("textarea").input_value() == \
                "softer light, ça va"
            page.locator("#send-selection").click()
            page.locator("#confirm-send").click()
            assert page.locator("#sent").count() == 1
            assert page.evaluate("Object.keys(window.localStorage).length") == 0       # the draft went
    with transaction() as session:
        assert [p.note for p in selection.picks(session, order_id).values() if p.favourite] == ["softer light, ça va"]
