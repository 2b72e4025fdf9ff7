"""Signed client links over real HTTP on localhost (`postline web` on uvicorn): a download link made by
`postline download-link` serves the delivery zip whole and by ranges (a download that resumes), with the bytes of
the file; the same link with one character changed, after its expiry, withdrawn, or with a wrong PIN is refused
with a page saying so; wrong PINs in a row pause the link. A preview link shows one photo at web size, and small
(what a gate's form in the Prefect UI shows) by the same signed link only."""

from __future__ import annotations

import io
import os
import re
import time
import zipfile

import httpx
import numpy as np
import pytest
from PIL import Image

from config.errors import NotFound
from record import work
from record.db import transaction
from record.models import Photo, PhotoStatus, ShootType
from surfaces.actions import client as client_actions
from surfaces.web import create_app
from tests.browser import served
from tests.conftest import sample
from tests.flowkit import cli

PIN = "4821"


@pytest.fixture
def delivered(home, tmp_path, monkeypatch):
    """An order with a delivery zip of 3 MB (stored members of random bytes, as JPEGs are): its id and bytes."""
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    path = tmp_path / "order-1-Anna.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for n in range(3):
            archive.writestr(f"full/DSC_{n:04d}.jpg", os.urandom(1_000_000))
    with transaction() as session:
        order = work.create_order(session, client="Anna & Ben", shoot=ShootType.WEDDING, preset_name="neutral",
                                  preset_version=1, preset_hash="0" * 64, preset_json="{}", due=None,
                                  card_folder=str(home / "card"))
        order.delivery_path = str(path)
    return order.id, path.read_bytes()


def link_for(order_id: int, base: str, monkeypatch, *extra: str) -> tuple[int, str]:
    """`postline download-link ORDER ...` with the public URL at ``base``: the link's id and address."""
    monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
    code, out = cli("download-link", str(order_id), *extra)
    assert code == 0, out
    url = out.strip().splitlines()[-1]
    assert url.startswith(f"{base}/d/")
    return int(re.search(r"link (\d+):", out).group(1)), url


def changed(url: str) -> str:
    """The link with one character of its signature changed."""
    at = len(url) - 5
    return url[:at] + ("A" if url[at] != "A" else "B") + url[at + 1:]


def test_a_download_link_serves_the_zip_whole_and_by_ranges_and_refuses_what_is_not_it(delivered, monkeypatch):
    order_id, data = delivered
    with served(create_app()) as base:
        link_id, url = link_for(order_id, base, monkeypatch, "--days", "2", "--pin", PIN)
        client = httpx.Client(timeout=30)

        asked = client.get(url)
        assert asked.status_code == 401 and "PIN" in asked.text and data[:100] not in asked.content
        wrong = client.post(url, data={"pin": "0000"}, follow_redirects=False)
        assert wrong.status_code == 403 and "not right" in wrong.text and "4 more tries" in wrong.text
        right = client.post(url, data={"pin": PIN}, follow_redirects=False)
        assert right.status_code == 303 and right.headers["location"] == url.removeprefix(base) + "/ready"
        assert "httponly" in right.headers["set-cookie"].lower()
        ready = client.get(right.headers["location"].join([base, ""]))   # what the PIN opened, and its button
        assert ready.status_code == 200 and "Your photos are ready: one ZIP file of 3.0 MB" in ready.text
        assert f'href="{url.removeprefix(base)}">Download your photos' in ready.text
        other = httpx.Client(timeout=30)                   # the gallery's Download button, in a browser with no PIN
        asked = other.get(url + "/ready")                  # yet: the PIN form, posting to the link itself
        assert asked.status_code == 401 and f'action="{url.removeprefix(base)}"' in asked.text
        opened = other.post(url, data={"pin": PIN}, follow_redirects=True)
        assert opened.status_code == 200 and "Your photos are ready" in opened.text

        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["accept-ranges"] == "bytes" and "attachment" in whole.headers["content-disposition"]
        part = client.get(url, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == data[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        # A download cut off half way resumes where it stopped, if the file is still the same one (If-Range).
        first = data[:len(data) // 2]
        rest = client.get(url, headers={"Range": f"bytes={len(first)}-", "If-Range": whole.headers["etag"]})
        assert rest.status_code == 206 and first + rest.content == data
        stale = client.get(url, headers={"Range": "bytes=10-", "If-Range": '"not-this-file"'})
        assert stale.status_code == 200 and stale.content == data
        tail = client.get(url, headers={"Range": "bytes=-100"})                  # the last 100 bytes
        assert tail.status_code == 206 and tail.content == data[-100:]
        past = client.get(url, headers={"Range": f"bytes={len(data)}-"})
        assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(data)}"
        several = client.get(url, headers={"Range": "bytes=0-9,20-29"})          # answered whole, as HTTP allows
        assert several.status_code == 200 and several.content == data
        head = client.head(url)                    # a download manager's first question: the size, and resuming
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(data))
        assert head.headers["accept-ranges"] == "bytes" and head.headers["etag"] == whole.headers["etag"]

        tampered = client.get(changed(url))
        assert tampered.status_code == 404 and "does not work" in tampered.text and data[:100] not in tampered.content
        as_gallery = client.get(url.replace("/d/", "/g/"))              # signed for a download, not a gallery
        assert as_gallery.status_code == 404

        assert cli("links", "revoke", str(link_id))[0] == 0
        withdrawn = client.get(url)
        assert withdrawn.status_code == 410 and "withdrawn" in withdrawn.text

    _, url = link_for(order_id, "http://127.0.0.1:1", monkeypatch, "--days", "2")
    token = url.rsplit("/", 1)[1]
    two_days_on = time.time() + 2 * 86400 + 60
    with served(create_app(clock=lambda: two_days_on)) as later:
        expired = httpx.get(f"{later}/d/{token}", timeout=30)
        assert expired.status_code == 410 and "expired" in expired.text and data[:100] not in expired.content


def test_wrong_pins_in_a_row_pause_the_link_then_the_right_one_opens_it(delivered, monkeypatch):
    order_id, data = delivered
    now = [time.time()]
    with served(create_app(clock=lambda: now[0])) as base:
        _, url = link_for(order_id, base, monkeypatch, "--pin", PIN)
        client = httpx.Client(timeout=30)
        for tries_left in (4, 3, 2, 1):
            assert f"{tries_left} more tr" in client.post(url, data={"pin": "1111"}).text
        paused = client.post(url, data={"pin": "2222"})
        assert paused.status_code == 429 and "too many" in paused.text.lower()
        assert re.search(r"takes no PIN for 15 minutes \(until \d\d:\d\d UTC\)", paused.text)   # not a bare UTC time
        refused = client.post(url, data={"pin": PIN}, follow_redirects=False)     # even the right one, for now
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 800
        assert client.get(url).status_code == 401
        assert "live, PIN locked until " in cli("links", "list", str(order_id))[1]     # the studio sees why
        now[0] += 16 * 60
        assert client.post(url, data={"pin": PIN}, follow_redirects=False).status_code == 303
        assert client.get(url).content == data


def test_a_preview_link_shows_one_photo_its_raw_original_before_any_retouch(delivered, monkeypatch):
    order_id, _ = delivered
    raw = sample("nikon_d1.nef")
    with transaction() as session:
        photo = Photo(order_id=order_id, source_name=raw.name, original_path=str(raw), sha256="1" * 64,
                      size_bytes=raw.stat().st_size, status=PhotoStatus.INGESTED)
        session.add(photo)
        session.flush()
        photo_id = photo.id
    with pytest.raises(NotFound, match="no photo 99999"):
        client_actions.preview_link(99999)
    with served(create_app()) as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        made = client_actions.preview_link(photo_id, pin=PIN, actor="sara")
        assert made.url.startswith(f"{base}/p/") and made.link.target == str(photo_id)
        client = httpx.Client(timeout=60)
        assert client.get(made.url).status_code == 401
        assert client.post(made.url, data={"pin": PIN}, follow_redirects=False).status_code == 303
        shown = client.get(made.url)
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
        picture = Image.open(io.BytesIO(shown.content))
        assert picture.width > picture.height and max(picture.size) <= 900      # the D1's landscape frame, web size
        assert np.asarray(picture.convert("L"), np.float32).std() > 10          # a picture, not a blank
        assert client.get(made.url.replace("/p/", "/d/")).status_code == 404   # signed for a preview only

        small = client.get(made.url + "/small.jpg")          # what a gate's form shows: small, made once, kept
        assert small.status_code == 200 and small.headers["content-type"] == "image/jpeg"
        thumb = Image.open(io.BytesIO(small.content))
        assert thumb.width > thumb.height and max(thumb.size) == 120 and len(small.content) < 20_000
        assert np.asarray(thumb.convert("L"), np.float32).std() > 10
        assert client.get(made.url + "/small.jpg").content == small.content
        asked = client.get(made.url + "/small.jpg?long_edge=4000&size=full")    # its size is not the caller's
        assert asked.status_code == 200 and asked.content == small.content
        for other in (made.url + "/large.jpg", made.url + "/small.jpg/x"):
            assert client.get(other).status_code in (404, 405), other
        assert 401 == httpx.get(made.url + "/small.jpg", timeout=60).status_code   # no PIN given in this browser
        changed_one = client.get(changed(made.url) + "/small.jpg")            # a signed link is still needed
        assert changed_one.status_code == 404 and changed_one.content == b""
        assert client.get(made.url.replace("/p/", "/g/") + "/small.jpg").status_code == 404


def test_a_client_address_that_is_not_one_gets_the_clients_page_not_the_staffs(home):
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    for path in ("/g/short", "/d/" + "x" * 500, "/p/abc%C3%A9", "/g/abc/selection"):
        page = client.get(path)
        assert page.status_code in (404, 405), path
        assert "This link does not open" in page.text and "incomplete or was changed" in page.text, path
        assert "queues" not in page.text and "/signin" not in page.text, path          # no staff's page around it
    picture = client.get("/g/abc/photos/abc.jpg")
    assert picture.status_code == 404 and picture.content == b""
    icon = client.get("/favicon.ico")              # every browser asks, a client's too: not the staff's 404 page
    assert icon.status_code == 204 and icon.content == b""


def test_the_web_servers_access_log_keeps_no_client_links_secret():
    """uvicorn's access log wrote every client link whole (`GET /g/eyJpIjo...KYdLq1V8 HTTP/1.1`): anyone reading the
    log could open the client's gallery or download. It keeps the token's first eight characters."""
    import logging

    from surfaces.web import HideLinkTokens

    token = "eyJpIjoxLCJuIjoiWC12TE8wdTFTN3p2UDlxaiIsImUiOjE3OTYzODQ0NzB9.KYdLq1V8LLTclzZmu7VTjvBKS3o"
    hidden = HideLinkTokens()
    for path, kept in ((f"/g/{token}/photos/7.jpg", "/g/eyJpIjox…/photos/7.jpg"), (f"/d/{token}", "/d/eyJpIjox…"),
                       (f"/d/{token}/ready", "/d/eyJpIjox…/ready"), ("/queues", "/queues")):
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                                   ("127.0.0.1:5000", "GET", path, "1.1", 200), None)
        assert hidden.filter(record) and record.getMessage() == f'127.0.0.1:5000 - "GET {kept} HTTP/1.1" 200'
        assert token[8:20] not in record.getMessage()
