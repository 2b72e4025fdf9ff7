"""The retoucher web page: sign-in, sessions, CSRF, who may touch which item, the lead's view, and a real
headless Chromium that signs in, claims, uploads an edited TIFF and sees it accepted."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeSerializer
from sqlmodel import select

from config.line import get_line
from record import moves, people, queue, rounds, work
from record.db import transaction
from record.models import QC_GATE, EventKind, Photo, PhotoStatus, ShootType, SignIn, WorkItem, WorkStatus
from surfaces.web import create_app
from surfaces.web_session import SignInLimiter, WebSettings
from tasks.pixels import imageio
from tests.browser import chromium_page, served
from tests.flowkit import MANUAL_SKIN_LINE

LINE = MANUAL_SKIN_LINE
PASSWORD = "correct-horse-9"


@pytest.fixture
def line(tmp_path, monkeypatch, home):
    line_file = tmp_path / "line.toml"
    line_file.write_text(LINE)
    monkeypatch.setenv("POSTLINE_LINE_FILE", str(line_file))
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    get_line.cache_clear()
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=PASSWORD,
                          display_name="Rita K.")
        people.add_person(session, name="sam", role="retoucher", skills="liquify_skin", password=PASSWORD)
        people.add_person(session, name="maria", role="lead", skills="", password=PASSWORD)
    yield home
    get_line.cache_clear()


def _scene(seed: int, w: int = 120, h: int = 80) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    image = np.stack([x / w, y / h, 0.5 + 0.3 * np.sin((x + y) / 9)], axis=2) * 0.8 + 0.1
    return (image + rng.normal(0, 0.01, image.shape)).astype(np.float32)


def seed_order(home: Path, photos: int = 2, *, waiting_on: str | None = None) -> list[int]:
    """An order whose photos wait in the manual liquify & skin stage, each with a real 16-bit working TIFF."""
    ids = []
    with transaction() as session:
        order = work.create_order(session, client="Lena & Tom", shoot=ShootType.PORTRAIT, preset_name="neutral",
                                  preset_version=1, preset_hash="0" * 64, preset_json="{}", due=date(2026, 12, 18),
                                  card_folder=str(home / "card"))
        order.waiting_on = waiting_on
        for i in range(photos):
            tif = imageio.write_working_tiff(home / "work" / f"order-{order.id}" / "cull_grade" / f"{i}.tif", _scene(i))
            photo = work.add_photo(session, Photo(order_id=order.id, source_name=f"DSC_{i + 1:04d}.dng", sha256=f"{i:064d}",
                                                  size_bytes=1000, status=PhotoStatus.INGESTED), first_stage=None)
            ids.append(moves.enqueue(session, order_id=order.id, photo_id=photo.id, stage="liquify_skin", round=1,
                                     input_path=str(tif), actor="postline-auto").id)
    return ids


def edited(item_id: int, folder: Path) -> Path:
    """The retoucher's 'edit' of an item's working file: a real small change, same size and profile."""
    with transaction() as session:
        source = Path(session.get(WorkItem, item_id).input_path)
    out = folder / f"edited-{item_id}.tif"
    imageio.write_working_tiff(out, imageio.read_working_tiff(source) * 0.96)
    return out


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD):
    token = csrf(client.get("/signin").text)
    return client.post("/signin", data={"name": name, "password": password, "csrf": token}, follow_redirects=False)


def client_for(name: str | None = None, **kwargs) -> TestClient:
    client = TestClient(create_app(**kwargs))
    if name:
        assert sign_in(client, name).status_code == 303
    return client


def item(item_id: int) -> WorkItem:
    with transaction() as session:
        return session.get(WorkItem, item_id)


# --- signing in, sessions, CSRF --------------------------------------------------------------------------------

def test_a_wrong_password_is_refused_and_the_right_one_signs_in(line):
    client = client_for()
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"
    refused = sign_in(client, "rita", "not-her-password")
    assert refused.status_code == 401 and "Wrong name or password" in refused.text
    assert sign_in(client, "nobody", PASSWORD).status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303      # still signed out

    signed = sign_in(client, "rita")
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=28800" in cookie
    page = client.get("/")
    assert page.status_code == 200 and "Rita K." in page.text and "Liquify &amp; skin" in page.text
    assert PASSWORD not in page.text

    client.post("/signout", data={"csrf": csrf(page.text)})
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"


def test_a_session_expires_and_a_forged_cookie_is_not_a_session(line):
    now = [1_800_000_000.0]
    client = client_for("rita", clock=lambda: now[0], settings=WebSettings(session_hours=2))
    assert client.get("/").status_code == 200
    now[0] += 2 * 3600 - 60
    assert client.get("/").status_code == 200
    now[0] += 120
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"

    other = client_for("sam")
    value = other.cookies["postline_session"]
    body, mac = value.split(".")
    forged = body.replace(body[5], "A" if body[5] != "A" else "B") + "." + mac
    other.cookies.set("postline_session", forged)
    assert other.get("/", follow_redirects=False).status_code == 303


def test_the_secret_is_made_once_and_kept_private(line):
    client_for()
    secret = line / "web-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_bytes()) == 32
    before = secret.read_bytes()
    client_for()
    assert secret.read_bytes() == before


def test_a_post_without_the_csrf_token_is_refused(line):
    seed_order(line, photos=1)
    client = client_for("rita")
    for data in ({"stage": "liquify_skin"}, {"stage": "liquify_skin", "csrf": "forged"}):
        refused = client.post("/claim", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
    with transaction() as session:
        assert queue.mine(session, "rita") == []
    token = csrf(client.get("/signin").text)
    assert client.post("/signin", data={"name": "sam", "password": PASSWORD}).status_code == 403
    assert client.post("/signin", data={"name": "sam", "password": PASSWORD, "csrf": token},
                       follow_redirects=False).status_code == 303


def _cookie_fields(client: TestClient, home: Path) -> dict:
    """What a session cookie holds, read with the installation's secret."""
    return URLSafeSerializer((home / "web-secret").read_bytes(), salt="postline-web-session").loads(
        client.cookies["postline_session"])


def test_changing_a_password_signs_that_person_out_everywhere(line):
    seed_order(line, photos=1)
    laptop, tablet, sam = client_for("rita"), client_for("rita"), client_for("sam")
    token = csrf(laptop.get("/").text)
    with transaction() as session:
        old_hash = people.get_person(session, "rita").password_hash
    fields = _cookie_fields(laptop, line)
    assert set(fields) == {"t", "e"} and old_hash not in json.dumps(fields)   # a random token and its expiry
    with transaction() as session:                # the record keeps the token's SHA-256, never the token
        stored = session.exec(select(SignIn.token_sha256)).all()
    assert hashlib.sha256(fields["t"].encode()).hexdigest() in stored and fields["t"] not in stored

    with transaction() as session:
        people.set_password(session, name="rita", password="a-new-password-7")
    refused = laptop.post("/claim", data={"stage": "liquify_skin", "csrf": token})
    assert refused.url.path == "/signin" and "Your password was changed: sign in again." in refused.text
    with transaction() as session:
        assert queue.mine(session, "rita") == []
    assert tablet.get("/", follow_redirects=False).headers["location"] == "/signin"
    signin = tablet.get("/")
    assert signin.url.path == "/signin" and "Your password was changed: sign in again." in signin.text
    assert "Your password was changed" not in laptop.get("/signin").text   # said once; the old sign-in is gone
    assert sam.get("/").status_code == 200 and "Rita K." not in sam.get("/").text    # others stay signed in

    assert sign_in(laptop, "rita").status_code == 401                      # the old password no longer works
    assert sign_in(laptop, "rita", "a-new-password-7").status_code == 303
    assert "Rita K." in laptop.get("/").text

    with transaction() as session:                                         # no password at all: no sessions
        people.get_person(session, "rita").password_hash = None
    assert laptop.get("/", follow_redirects=False).headers["location"] == "/signin"
    assert "Your password was changed" in laptop.get("/signin").text


def test_wrong_passwords_pause_sign_in_for_that_name_until_the_window_passes(line, monkeypatch):
    now = [1_800_000_000.0]                                                # 2027-01-15 08:00:00 UTC
    checked = []
    authenticate = people.authenticate
    monkeypatch.setattr(people, "authenticate", lambda session, **kw: checked.append(kw) or authenticate(session, **kw))
    client = client_for(clock=lambda: now[0])
    for _ in range(5):
        assert sign_in(client, "rita", "guess-guess-1").status_code == 401
        now[0] += 10
    assert len(checked) == 5

    paused = sign_in(client, "rita")
    assert paused.status_code == 429 and len(checked) == 5                # the password was not even looked at
    assert "Too many wrong passwords for &#39;rita&#39;" in paused.text
    assert "Try again after 2027-01-15 08:15 UTC (in 15 minutes)" in paused.text
    assert paused.headers["retry-after"] == str(900 - 50)                  # from the first of the five
    assert client.get("/", follow_redirects=False).status_code == 303     # still signed out
    assert sign_in(client, "sam").status_code == 303                      # other names are not paused

    now[0] += 14 * 60
    assert sign_in(client, "rita").status_code == 429
    now[0] += 60
    assert sign_in(client, "rita").status_code == 303
    assert "Rita K." in client.get("/").text


def test_a_successful_sign_in_clears_the_names_failures(line):
    client = client_for(clock=lambda: 1_800_000_000.0)
    for _ in range(2):
        for _ in range(4):
            assert sign_in(client, "rita", "guess-guess-1").status_code == 401
        assert sign_in(client, "rita").status_code == 303
    assert sign_in(client, "rita", "guess-guess-1").status_code == 401    # the 9th failure, yet only the 1st now


def test_one_address_cannot_sweep_many_names(line):
    client = client_for(settings=WebSettings(signin_failures_per_address=3))
    for name in ("rita", "sam", "nobody"):
        assert sign_in(client, name, "guess-guess-1").status_code == 401
    paused = sign_in(client, "maria")
    assert paused.status_code == 429 and "from this computer&#39;s address" in paused.text
    assert "Try again after" in paused.text


def test_the_limiter_lets_exactly_the_limit_through_at_once():
    limiter = SignInLimiter(per_name=5, per_address=100, window_seconds=900, clock=lambda: 1000.0)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: limiter.attempt("rita", f"10.0.0.{i}"), range(40)))
    assert sum(r is None for r in results) == 5
    assert {(r.by, r.until) for r in results if r is not None} == {("name", 1900.0)}


# --- whose item --------------------------------------------------------------------------------------------------

def test_the_running_server_takes_a_lead_s_edit_of_the_line_file_without_a_restart(line, monkeypatch):
    import config.line

    monkeypatch.setattr(config.line, "LINE_LOOK_SECONDS", 0.0)
    seed_order(line, photos=1)
    rita = client_for("rita")
    assert "Liquify &amp; skin" in rita.get("/").text
    line_file = Path(os.environ["POSTLINE_LINE_FILE"])
    line_file.write_text(LINE.replace('title = "Liquify & skin"', 'title = "Skin & shape"'))
    page = rita.get("/").text
    assert "Skin &amp; shape" in page and "Liquify &amp; skin" not in page


def test_a_retoucher_cannot_touch_an_item_someone_else_claimed(line, tmp_path):
    [item_id, _] = seed_order(line)
    assert queue.pull(person="rita", stages=["liquify_skin"]).id == item_id
    sam = client_for("sam")
    token = csrf(sam.get("/").text)

    for response in (sam.get(f"/items/{item_id}"), sam.get(f"/items/{item_id}/working"),
                     sam.get(f"/items/{item_id}/before.jpg"),
                     sam.post(f"/items/{item_id}/release", data={"csrf": token}),
                     sam.post(f"/items/{item_id}/extend", data={"csrf": token})):
        assert response.status_code == 403, response.request.url
        assert f"claimed by rita, not by you" in response.text
    with edited(item_id, tmp_path).open("rb") as fh:
        submitted = sam.post(f"/items/{item_id}/submit", data={"csrf": token},
                             files={"result": ("../../evil.tif", fh, "image/tiff")})
    assert submitted.status_code == 403 and "claimed by rita" in submitted.text
    assert item(item_id).status is WorkStatus.CLAIMED and item(item_id).claimed_by == "rita"
    assert not list(line.rglob("evil.tif"))
    assert sam.get("/items/999999").status_code == 404


def test_claim_download_refused_then_accepted_result(line, tmp_path):
    [first, second] = seed_order(line)
    rita = client_for("rita")
    claimed = rita.post("/claim", data={"stage": "liquify_skin", "csrf": csrf(rita.get("/").text)},
                        follow_redirects=False)
    assert claimed.headers["location"] == f"/items/{first}"
    page = rita.get(f"/items/{first}")
    assert "DSC_0001.dng" in page.text and "Hand back" in page.text and "due 2026-12-18" in page.text

    download = rita.get(f"/items/{first}/working")
    assert download.status_code == 200 and download.headers["content-type"] == "image/tiff"
    assert f'filename="{first}-DSC_0001-liquify_skin-r1.tif"' in download.headers["content-disposition"]
    unchanged = tmp_path / "unchanged.tif"
    unchanged.write_bytes(download.content)
    preview = rita.get(f"/items/{first}/before.jpg")
    assert preview.headers["content-type"] == "image/jpeg" and preview.content[:3] == b"\xff\xd8\xff"

    token = csrf(page.text)
    with unchanged.open("rb") as fh:
        refused = rita.post(f"/items/{first}/submit", data={"csrf": token}, files={"result": ("x.tif", fh, "image/png")})
    assert refused.status_code == 422 and "byte-identical to the working file" in refused.text
    assert item(first).status is WorkStatus.CLAIMED
    darkened = imageio.write_working_tiff(tmp_path / "dark.tif", imageio.read_working_tiff(unchanged) * 0.02)
    with darkened.open("rb") as fh:
        refused = rita.post(f"/items/{first}/submit", data={"csrf": token}, files={"result": ("dark.tif", fh, "image/tiff")})
    assert refused.status_code == 422 and "dark.tif is almost black (mean level" in refused.text
    assert "-result.tif" not in refused.text                # the file they chose, not the name it was kept under
    assert item(first).status is WorkStatus.CLAIMED

    with edited(first, tmp_path).open("rb") as fh:
        accepted = rita.post(f"/items/{first}/submit", data={"csrf": token},
                             files={"result": ("my edit.tif", fh, "application/octet-stream")})
    assert accepted.status_code == 200 and "Accepted" in accepted.text and "After (handed back)" in accepted.text
    done = item(first)
    assert done.status is WorkStatus.SUBMITTED and done.output_path.endswith(f"{first}-DSC_0001-liquify_skin-r1-result.tif")
    assert rita.get(f"/items/{first}/after.jpg").content[:3] == b"\xff\xd8\xff"
    assert f'href="/items/{first}"' not in rita.get("/").text           # out of her list
    assert not list((line / "web-uploads").iterdir())                    # no upload left behind
    with transaction() as session:
        assert [i.stage for i in work.items_in(session, done.order_id, "fine_retouch")] == ["fine_retouch"]

    # the second photo: claimed, then released back to the queue
    rita.post("/claim", data={"stage": "liquify_skin", "csrf": token})
    assert item(second).claimed_by == "rita"
    released = rita.post(f"/items/{second}/release", data={"csrf": token, "reason": "needs the lead"})
    assert "back in its queue" in released.text and item(second).status is WorkStatus.QUEUED


def test_a_result_handed_back_after_the_lease_ran_out_is_still_taken(line, tmp_path):
    [item_id] = seed_order(line, photos=1)
    queue.pull(person="rita", stages=["liquify_skin"], lease=timedelta(seconds=-1))
    with transaction() as session:
        assert queue.reap_expired(session) == 1
    rita = client_for("rita")
    page = rita.get(f"/items/{item_id}")
    assert "Your lease ran out" in page.text and "Release to the queue" not in page.text
    with edited(item_id, tmp_path).open("rb") as fh:
        accepted = rita.post(f"/items/{item_id}/submit", data={"csrf": csrf(page.text)}, files={"result": ("r.tif", fh)})
    assert "Accepted" in accepted.text and item(item_id).status is WorkStatus.SUBMITTED
    assert client_for("sam").get(f"/items/{item_id}").status_code == 403


def test_an_upload_over_the_limit_is_refused(line, tmp_path):
    [item_id] = seed_order(line, photos=1)
    queue.pull(person="rita", stages=["liquify_skin"])
    rita = client_for("rita", settings=WebSettings(max_upload_mb=1))
    token = csrf(rita.get(f"/items/{item_id}").text)
    too_big = b"II*\x00" + os.urandom(2 * 1024 * 1024)
    refused = rita.post(f"/items/{item_id}/submit", data={"csrf": token}, files={"result": ("big.tif", too_big)})
    assert refused.status_code == 413 and "larger than 1 MB" in refused.text
    empty = rita.post(f"/items/{item_id}/submit", data={"csrf": token}, files={"result": ("empty.tif", b"")})
    assert empty.status_code == 422 and "No file was chosen" in empty.text
    assert item(item_id).status is WorkStatus.CLAIMED


# --- the lead ------------------------------------------------------------------------------------------------------

def test_the_lead_sees_every_stage_every_claim_and_what_orders_wait_on(line):
    [item_id, _] = seed_order(line, waiting_on="liquify_skin")
    queue.pull(person="rita", stages=["liquify_skin"])
    lead = client_for("maria").get("/").text
    for title in ("Cull &amp; grade", "Liquify &amp; skin", "Fine retouch &amp; colour", "Design &amp; layout"):
        assert title in lead
    claims = lead.split('id="claims"')[1].split("</table>")[0]
    assert f"#{item_id}" in claims and "rita" in claims
    modes = dict(re.findall(r'data-stage="(\w+)">.*?class="muted stage-mode">(\w+)<', lead, re.S))
    assert modes == {"cull_grade": "automatic", "liquify_skin": "people", "fine_retouch": "automatic",
                     "design_layout": "automatic"}                    # the lead has no skill: none pulls, each labelled
    assert "Lena &amp; Tom" in lead and "Liquify &amp; skin" in lead.split('id="orders"')[1]
    order_id = item(item_id).order_id
    order = client_for("maria").get(f"/orders/{order_id}")
    assert order.status_code == 200 and 'id="waiting-on">Liquify &amp; skin' in order.text

    retoucher = client_for("sam")
    assert "Cull &amp; grade" not in retoucher.get("/").text
    assert retoucher.get(f"/orders/{order_id}").status_code == 403
    assert client_for("maria").get(f"/items/{item_id}").status_code == 200   # a lead may look, not work
    assert client_for("maria").get(f"/items/{item_id}/working").status_code == 403


def test_the_lead_sends_a_photo_back_from_the_order_page_and_the_retoucher_reads_why(line, tmp_path):
    from surfaces.actions.queue import hand_back as submit_work

    ids = seed_order(line)
    for item_id in ids:                        # the stage's work done, then both photos wait for QC review
        queue.pull(person="rita", stages=["liquify_skin"])
        submit_work(item_id=item_id, person="rita", file=edited(item_id, tmp_path))
    with transaction() as session:
        order_id = item(ids[0]).order_id
        for item_id in ids:
            done = session.get(WorkItem, item_id)
            gate = moves.enqueue(session, order_id=order_id, photo_id=done.photo_id, stage=QC_GATE, round=1,
                                 input_path=done.output_path, actor="postline-auto")
            rounds.await_lead(session, work.claim_queued(session, gate.id))     # checked: waits for the lead

    lead = client_for("maria")
    order = lead.get(f"/orders/{order_id}").text
    assert 'id="awaiting">2 photo(s): DSC_0001.dng, DSC_0002.dng' in order and f'href="/orders/{order_id}/qc"' in order
    page = lead.get(f"/orders/{order_id}/qc").text
    rows = dict(re.findall(r'name="photo-(\d+)" value="([^"]+)"', page))
    assert sorted(rows.values()) == ["DSC_0001.dng", "DSC_0002.dng"]
    first = next(i for i, name in rows.items() if name == "DSC_0001.dng")
    other = next(i for i in rows if i != first)
    decided = lead.post(f"/orders/{order_id}/qc", data={
        "csrf": csrf(page), f"photo-{first}": "DSC_0001.dng", f"reason-{first}": "over_smoothed_skin",
        f"stage-{first}": "liquify_skin", f"note-{first}": "pores gone",
        f"photo-{other}": "DSC_0002.dng", f"reason-{other}": "pass", f"stage-{other}": "cull_grade"})
    assert decided.status_code == 200            # no run waits on this order: recorded directly, and said exactly
    assert ("recorded directly: 1 passed; DSC_0001.dng sent back to Liquify &amp; skin (over_smoothed_skin)"
            in decided.text)
    with transaction() as session:
        [again] = work.items_in(session, order_id, "liquify_skin")
        photos = {p.source_name: p.status for p in work.photos(session, order_id)}
    assert again.round == 2 and photos["DSC_0002.dng"] is PhotoStatus.PASSED

    rita = client_for("rita")
    rita.post("/claim", data={"stage": "liquify_skin", "csrf": csrf(rita.get("/").text)})
    assert "Sent back by QC:</strong> DSC_0001.dng: pores gone (over smoothed skin)" in rita.get(f"/items/{again.id}").text
    sam = client_for("sam")
    refused = sam.post(f"/orders/{order_id}/qc", data={"csrf": csrf(sam.get("/").text)})
    assert refused.status_code == 403 and "Only a lead" in refused.text


def test_the_retoucher_reads_why_automatic_qc_sent_a_photo_back_to_grading(line):
    """Automatic QC blamed grading (record.rounds.send_back, as qc/gate.py does); graded again, the photo comes on
    to the people's stage in round 2: the item page says why, and where it was sent."""

    [item_id] = seed_order(line, photos=1)
    with transaction() as session:
        first = session.get(WorkItem, item_id)
        moves.move_item(session, first, WorkStatus.CANCELLED, actor="test")
        gate = moves.enqueue(session, order_id=first.order_id, photo_id=first.photo_id, stage=QC_GATE, round=1,
                             input_path=first.input_path, actor="postline-auto")
        rounds.send_back(session, work.claim_queued(session, gate.id), stage="cull_grade", actor=work.AUTO_WORKER,
                         reason="[clipping] DSC_0001.dng has 23% clipped pixels; it came out of Cull & grade so")
        again = moves.enqueue(session, order_id=first.order_id, photo_id=first.photo_id, stage="liquify_skin",
                              round=2, input_path=first.input_path, actor="postline-auto")
    rita = client_for("rita")
    rita.post("/claim", data={"stage": "liquify_skin", "csrf": csrf(rita.get("/").text)})
    page = rita.get(f"/items/{again.id}").text
    assert ("Sent back by QC:</strong> DSC_0001.dng has 23% clipped pixels; it came out of Cull &amp; "
            "grade so (clipping) (sent back to Cull &amp; grade; redone there, it comes to this stage again)") in page


def test_postline_web_is_a_command():
    from surfaces.cli import build_parser

    args = build_parser().parse_args(["web", "--port", "9123"])
    assert (args.host, args.port, args.func.__name__) == ("127.0.0.1", 9123, "cmd_web")


# --- a real browser ------------------------------------------------------------------------------------------------

def test_in_chromium_a_retoucher_signs_in_claims_uploads_and_is_accepted(line, tmp_path):
    [first, _] = seed_order(line)
    result = edited(first, tmp_path)
    with served(create_app()) as base, chromium_page() as page:
        page.goto(f"{base}/")
        assert page.url.endswith("/signin")
        page.fill("input[name=name]", "rita")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("#queues")
        row = page.locator("#queues tr[data-stage=liquify_skin]")
        assert row.locator("td").nth(1).inner_text() == "2"
        page.screenshot(path="/tmp/postline-web-queues.png", full_page=True)

        row.locator("button:has-text('Claim next')").click()
        page.wait_for_url(f"{base}/items/{first}")
        assert page.locator("img[alt=before]").evaluate("img => img.complete && img.naturalWidth") == 120
        with page.expect_download() as download:
            page.click("text=Download the working file")
        assert download.value.suggested_filename == f"{first}-DSC_0001-liquify_skin-r1.tif"

        page.set_input_files("input[name=result]", str(result))
        page.click("button:has-text('Hand back')")
        page.wait_for_selector("#accepted")
        assert "Accepted" in page.locator("#accepted").inner_text()
        assert page.locator("#status").inner_text() == "accepted"
        page.screenshot(path="/tmp/postline-web-accepted.png", full_page=True)

    with transaction() as session:
        done = session.get(WorkItem, first)
        nxt = work.items_in(session, done.order_id, "fine_retouch")
        submitted = [e for e in work.events(session, done.order_id)
                     if e.kind is EventKind.SUBMITTED and e.work_item_id == first]
    assert done.status is WorkStatus.SUBMITTED and done.claimed_by == "rita"
    assert [e.actor for e in submitted] == ["rita"]
    assert len(nxt) == 1 and nxt[0].photo_id == done.photo_id and nxt[0].input_path == done.output_path
