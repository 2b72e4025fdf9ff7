"""The web page against what a studio's network throws at it, over real HTTP to a real uvicorn: a decompression
bomb uploaded as a result (refused from its header, the server's memory flat), sessions that end at once on
sign-out and on a password change, odd cookies, ids and form fields answered like any bad request (never 5xx),
and the security headers on every response, error pages included."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import tifffile
from sqlalchemy import text
from sqlmodel import SQLModel, select

from config.line import get_line
from qc.results import ResultRefused, check_result
from record import people, queue
from record.db import get_engine, transaction
from record.models import SignIn, SignInEnd, WorkItem, WorkStatus
from surfaces.web import create_app
from surfaces.web_session import COOKIE
from tests.browser import free_port, served
from tests.pg import postgres_url  # noqa: F401 - the session's PostgreSQL
from tests.test_web import LINE, PASSWORD, edited, line, seed_order  # noqa: F401 - `line` is a fixture

BOMB_SIDE = 16384
SECURITY_HEADERS = {"content-security-policy": "frame-ancestors 'none'", "x-content-type-options": "nosniff",
                    "x-frame-options": "DENY", "referrer-policy": "same-origin"}


def bomb(path: Path) -> Path:
    """A real TIFF of 1.5 MB whose 256 zlib tiles decode to 16384 x 16384 x 3 x 16-bit: 1.6 GB of zeros."""
    tile = zlib.compress(bytes(1024 * 1024 * 3 * 2), 9)
    tifffile.imwrite(path, (tile for _ in range((BOMB_SIDE // 1024) ** 2)), shape=(BOMB_SIDE, BOMB_SIDE, 3),
                     dtype=np.uint16, tile=(1024, 1024), compression="zlib", photometric="rgb")
    assert path.stat().st_size < 2_000_000
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].nbytes == BOMB_SIDE * BOMB_SIDE * 3 * 2
    return path


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def browser(base: str, name: str | None = None) -> httpx.Client:
    """An HTTP client with its own cookie jar, signed in as ``name`` if given."""
    client = httpx.Client(base_url=base, timeout=60)
    if name:
        token = csrf(client.get("/signin").text)
        signed = client.post("/signin", data={"name": name, "password": PASSWORD, "csrf": token})
        assert signed.status_code == 303, signed.text
    return client


def with_cookie(base: str, value: str | bytes) -> httpx.Client:
    """A client that sends exactly this session cookie (raw bytes allowed) on every request, whatever the
    server sets."""
    raw = value if isinstance(value, bytes) else value.encode()
    client = httpx.Client(base_url=base, timeout=30, headers={"cookie": b"postline_session=" + raw})
    client.event_hooks["response"] = [lambda _response: client.cookies.clear()]
    return client


def status_of(item_id: int) -> WorkStatus:
    with transaction() as session:
        return session.get(WorkItem, item_id).status


def _kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


@contextmanager
def postline_web(home: Path) -> tuple[str, int]:
    """`postline web` as its own process on a free port (the real command, uvicorn and all); yields (URL, pid)."""
    port = free_port()
    command = Path(sys.executable).with_name("postline")
    process = subprocess.Popen([str(command), "web", "--port", str(port)], env=os.environ.copy(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                httpx.get(f"{base}/signin", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "postline web did not start"
                time.sleep(0.2)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- a decompression bomb as a retoucher's result -------------------------------------------------------------

def test_a_bomb_uploaded_on_the_web_page_is_refused_from_its_header_and_the_server_stays_small(line, tmp_path):
    [item_id, second] = seed_order(line)
    queue.pull(person="rita", stages=["liquify_skin"])
    with postline_web(line) as (base, pid):
        rita = browser(base, "rita")
        token = csrf(rita.get(f"/items/{item_id}").text)
        before = _kib(pid, "VmRSS")
        started = time.monotonic()
        with bomb(tmp_path / "retouched.tif").open("rb") as fh:
            refused = rita.post(f"/items/{item_id}/submit", data={"csrf": token},
                                files={"result": ("retouched.tif", fh, "image/tiff")})
        seconds = time.monotonic() - started
        grown_mib = (_kib(pid, "VmHWM") - before) / 1024
        print(f"bomb refused in {seconds:.2f} s; server peak RSS {grown_mib:.1f} MiB above its RSS before")

        assert refused.status_code == 422
        message = re.sub(r"\s+", " ", refused.text)
        assert f"declares {BOMB_SIDE}x{BOMB_SIDE} px, 3 x 16-bit (268 MP, 1.5 GiB once decoded)" in message
        assert "at most 200 MP (POSTLINE_MAX_RESULT_PIXELS). It was not decoded" in message
        assert seconds < 30 and grown_mib < 100              # not decoded: a decode of 1.5 GiB would show in RSS
        assert status_of(item_id) is WorkStatus.CLAIMED
        assert not list((line / "web-uploads").iterdir()) and not list(line.rglob("*retouched*"))

        # the same server still takes a real result
        queue.pull(person="rita", stages=["liquify_skin"])
        with edited(second, tmp_path).open("rb") as fh:
            accepted = rita.post(f"/items/{second}/submit", data={"csrf": token}, files={"result": ("r.tif", fh)},
                                  follow_redirects=True)
        assert accepted.status_code == 200 and "Accepted" in accepted.text
        assert status_of(second) is WorkStatus.SUBMITTED


def _peak_rss_mib(command: list[str]) -> tuple[int, str, float]:
    """Run a command; its exit status, stderr and peak RSS (MiB), measured by the kernel for that child alone."""
    process = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, stderr, usage.ru_maxrss / 1024


def test_postline_queue_submit_refuses_the_bomb_before_decoding_it(line, tmp_path):
    [item_id] = seed_order(line, photos=1)
    queue.pull(person="rita", stages=["liquify_skin"])
    postline = str(Path(sys.executable).with_name("postline"))
    with transaction() as session:
        working = session.get(WorkItem, item_id).input_path
    # the same command refusing an ordinary file (the working file itself, unchanged) is the baseline
    code, stderr, baseline = _peak_rss_mib([postline, "queue", "submit", str(item_id), working, "--as", "rita"])
    assert code == 1 and "byte-identical" in stderr
    code, stderr, peak = _peak_rss_mib([postline, "queue", "submit", str(item_id), str(bomb(tmp_path / "b.tif")),
                                        "--as", "rita"])
    print(f"postline queue submit: peak RSS {peak:.0f} MiB on the bomb, {baseline:.0f} MiB on an ordinary refusal")
    assert code == 1 and f"declares {BOMB_SIDE}x{BOMB_SIDE} px" in stderr and "POSTLINE_MAX_RESULT_PIXELS" in stderr
    assert peak - baseline < 100
    assert status_of(item_id) is WorkStatus.CLAIMED


def test_the_limit_is_a_setting_and_a_result_within_it_is_taken(line, tmp_path, monkeypatch):
    from config.settings import get_settings

    [item_id] = seed_order(line, photos=1)                    # 120 x 80 px working files
    queue.pull(person="rita", stages=["liquify_skin"])
    monkeypatch.setenv("POSTLINE_MAX_RESULT_PIXELS", "1000000")
    get_settings.cache_clear()
    result = edited(item_id, tmp_path)
    big = tmp_path / "big.tif"
    tifffile.imwrite(big, np.zeros((1000, 1001, 3), np.uint16), photometric="rgb")
    with pytest.raises(ResultRefused, match=r"big.tif declares 1001x1000 px.*at most 1 MP"):
        check_result(big, result, max_pixels=get_settings().max_result_pixels)
    from surfaces.actions.queue import hand_back as submit_work

    assert submit_work(item_id=item_id, person="rita", file=result).item.status is WorkStatus.SUBMITTED
    get_settings.cache_clear()


# --- sessions end at once ---------------------------------------------------------------------------------------

def test_a_signed_out_cookie_stops_working_at_once(line):
    [item_id] = seed_order(line, photos=1)
    with served(create_app()) as base:
        rita = browser(base, "rita")
        home = rita.get("/")
        assert home.status_code == 200 and "Rita K." in home.text
        stolen, token = rita.cookies[COOKIE], csrf(home.text)
        thief = with_cookie(base, stolen)
        assert "Rita K." in thief.get("/").text                            # a copy works while she is signed in

        out = rita.post("/signout", data={"csrf": token}, follow_redirects=True)
        assert "You are signed out." in out.text and rita.cookies[COOKIE] != stolen

        assert thief.get("/").headers["location"] == "/signin"
        assert thief.get(f"/items/{item_id}").headers["location"] == "/signin"
        claim = thief.post("/claim", data={"stage": "liquify_skin", "csrf": token})
        assert claim.status_code == 303 and claim.headers["location"].startswith("/signin")
        assert status_of(item_id) is WorkStatus.QUEUED
    with transaction() as session:
        [ended] = session.exec(select(SignIn).where(SignIn.ended_at.is_not(None))).all()
    assert ended.ended_why is SignInEnd.SIGNED_OUT


def test_a_password_change_ends_every_session_of_that_person_at_once(line):
    seed_order(line, photos=1)
    with served(create_app()) as base:
        laptop, tablet, sam = browser(base, "rita"), browser(base, "rita"), browser(base, "sam")
        stolen = with_cookie(base, laptop.cookies[COOKIE])
        token = csrf(laptop.get("/").text)
        assert "Rita K." in stolen.get("/").text

        with transaction() as session:                       # what `postline people password rita` does
            people.set_password(session, name="rita", password="a-new-password-7")

        for client in (laptop, tablet, stolen):
            assert client.get("/").headers["location"] == "/signin"
        refused = laptop.post("/claim", data={"stage": "liquify_skin", "csrf": token}, follow_redirects=True)
        assert "Your password was changed: sign in again." in refused.text
        with transaction() as session:
            assert queue.mine(session, "rita") == []
        assert "Your password was changed: sign in again." in tablet.get("/signin").text
        assert "Sam" not in sam.get("/").text and sam.get("/").status_code == 200      # others stay signed in
        with transaction() as session:
            ended = session.exec(select(SignIn.ended_why).where(SignIn.ended_at.is_not(None))).all()
        assert ended == [SignInEnd.PASSWORD_CHANGED] * 2


def test_sessions_end_at_once_with_the_record_on_postgresql(postgres_url, home, tmp_path, monkeypatch):
    from config.settings import get_settings

    monkeypatch.setenv("POSTLINE_DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    with get_engine(postgres_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    (tmp_path / "line.toml").write_text(LINE)
    monkeypatch.setenv("POSTLINE_LINE_FILE", str(tmp_path / "line.toml"))
    get_line.cache_clear()
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=PASSWORD)
    with served(create_app()) as base:
        laptop, tablet = browser(base, "rita"), browser(base, "rita")
        copy = with_cookie(base, laptop.cookies[COOKIE])
        assert copy.get("/").status_code == 200
        laptop.post("/signout", data={"csrf": csrf(laptop.get("/").text)})
        assert copy.get("/").headers["location"] == "/signin"
        assert tablet.get("/").status_code == 200
        with transaction() as session:
            people.set_password(session, name="rita", password="a-new-password-7")
        assert tablet.get("/").headers["location"] == "/signin"
    with transaction() as session:
        ended = sorted(session.exec(select(SignIn.ended_why)).all())
    assert ended == [SignInEnd.PASSWORD_CHANGED, SignInEnd.SIGNED_OUT]
    get_line.cache_clear()
    get_settings.cache_clear()


def test_the_cookie_is_httponly_samesite_and_secure_over_https(line, tmp_path):
    with served(create_app()) as base:
        cookie = httpx.get(f"{base}/signin").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie and "secure" not in cookie

    cert, key = _self_signed(tmp_path)
    with served(create_app(), ssl_certfile=str(cert), ssl_keyfile=str(key)) as base:
        https = base.replace("http://", "https://")
        cookie = httpx.get(f"{https}/signin", verify=False).headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cryptography, a dependency of Prefect)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# --- malformed input -----------------------------------------------------------------------------------------------

def test_odd_cookies_are_a_visitor_and_impossible_ids_are_no_page(line):
    [item_id] = seed_order(line, photos=1)
    with served(create_app()) as base:
        for cookie in (b"e30.\xc3\xa9t\xc3\xa9\xff", b"\xc3\xa9t\xc3\xa9\xff\xfe", "x" * 4000, "a.b.c",
                       "eyJ0IjoiYSJ9.forged", ""):
            odd = with_cookie(base, cookie)
            signin = odd.get("/signin")
            assert signin.status_code == 200 and "Sign in" in signin.text and 'name="csrf"' in signin.text
            assert odd.get("/").headers["location"] == "/signin"
            assert odd.get(f"/items/{item_id}").headers["location"] == "/signin"

        rita = browser(base, "rita")
        for path in ("/items/99999999999999999999", "/items/0", "/items/-1", "/items/abc", "/items/1e3",
                     "/items/99999999999999999999/working", "/items/1/sideways.jpg", "/orders/99999999999999999999",
                     "/nowhere", "/items/%00"):
            answer = rita.get(path)
            assert answer.status_code == 404, path
            assert "There is no such page here" in answer.text or "There is no work item" in answer.text, path
            assert all(value in answer.headers[name] for name, value in SECURITY_HEADERS.items()), path
        assert rita.get(f"/items/{item_id + 1000}").status_code == 404


def _fuzz_paths(app) -> list[tuple[str, str]]:  # noqa: ANN001
    """(method, path) for every route of the app, each path parameter replaced by odd values."""
    from fastapi.routing import APIRoute

    odd = ["1", "0", "-1", "99999999999999999999", "abc", "%C3%A9", "%00", "1.5", "..%2F..%2Fetc", "x" * 300]
    out = []
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        params = re.findall(r"{(\w+)}", route.path)
        real = [{p: (which if p == "which" else item) for p in params}      # ids that are there: deeper in
                for item in ("1", "2") for which in ("before", "after")]
        values = [dict.fromkeys(params, v) for v in odd] + real
        for method in sorted(route.methods):
            for value in values if params else [{}]:
                out.append((method, re.sub(r"{(\w+)}", lambda m: value[m.group(1)], route.path)))
    return sorted(set(out), key=lambda mp: (mp[1] == "/signout", mp))   # signing out last


def test_fuzzing_every_route_with_odd_paths_cookies_and_forms_gets_no_server_error(line, tmp_path):
    seed_order(line, photos=2, waiting_on="qc_gate")
    queue.pull(person="rita", stages=["liquify_skin"])
    app = create_app()
    paths = _fuzz_paths(app)
    assert {"/signin", "/", "/claim", "/items/1", "/items/1/submit", "/orders/1/qc"} <= {p for _, p in paths}
    answers = []
    with served(app) as base:
        clients = {"none": lambda: httpx.Client(base_url=base, timeout=30),
                   "non-ascii": lambda: with_cookie(base, b"e30.\xe2\x98\x83\xff"),
                   "forged": lambda: with_cookie(base, "eyJ0IjoieCIsImUiOjl9.AAAA"),
                   "rita": lambda: browser(base, "rita"), "maria": lambda: browser(base, "maria")}
        for who, make in clients.items():
            client = make()
            token = csrf(client.get("/").text) if who in ("rita", "maria") else "x"
            forms = [{}, {"csrf": token},
                     {"csrf": token, "stage": "\u00e9\x00" * 50, "reason": "r" * 5000, "photo-0": "../../etc/passwd",
                      "reason-0": "nope", "stage-0": "\u2603", "name": "\u00e9" * 60, "password": "p\u00e4ss\x00w\u00f6rd"},
                     {"csrf": ["a", token], "photo-0": "DSC_0001.dng", "reason-0": "colour_cast",
                      "stage-0": "nowhere", "photo-1": "DSC_0002.dng", "reason-1": "pass"}]
            for method, path in paths:
                if method == "GET":
                    answers.append((who, method, path, client.get(path).status_code))
                    continue
                for form in forms:
                    answers.append((who, method, path, client.post(path, data=form).status_code))
                answers.append((who, method, path, client.post(path, data={"csrf": token}, files={
                    "result": ("x.tif", b"II*\x00" + os.urandom(300), "image/tiff"),
                    "extra": ("y.tif", b"MM\x00*", "image/tiff")}).status_code))
                answers.append((who, method, path, client.post(
                    path, content=b"--zz\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nbroken",
                    headers={"content-type": "multipart/form-data; boundary=zz"}).status_code))
    errors = [a for a in answers if a[3] >= 500]
    print(f"{len(answers)} requests over {len(paths)} route/path variants; status counts:",
          {code: sum(1 for a in answers if a[3] == code) for code in sorted({a[3] for a in answers})})
    assert len(answers) > 1000 and not errors, errors[:20]
    with transaction() as session:                # nothing was handed back or decided by any of it
        statuses = {i.status for i in session.exec(select(WorkItem)).all()}
    assert statuses <= {WorkStatus.QUEUED, WorkStatus.CLAIMED}


# --- security headers on every response ------------------------------------------------------------------------

def test_security_headers_on_pages_404s_and_server_errors(line):
    [item_id] = seed_order(line, photos=1)
    with served(create_app()) as base:
        rita = browser(base, "rita")
        answers = {"sign-in page": httpx.get(f"{base}/signin"), "queues": rita.get("/"),
                   "stylesheet": rita.get("/static/style.css"), "404": rita.get("/items/99999999999999999999"),
                   "403": rita.get(f"/orders/{item_id}")}

        broken = Path(os.environ["POSTLINE_LINE_FILE"])     # a lead breaks the line file: the page cannot be made
        broken.write_text("[[stages]\nthis is not TOML")
        get_line.cache_clear()
        answers["500"] = rita.get("/")
        get_line.cache_clear()
        broken.write_text(LINE)
        rita = httpx.Client(base_url=base, cookies=rita.cookies)   # uvicorn closes a connection after a 500

        with sqlite3.connect(line / "postline.db") as db:    # the record loses a table under the running server
            db.execute("DROP TABLE web_sessions")
        answers["503"] = rita.get("/")

    assert [a.status_code for a in answers.values()] == [200, 200, 200, 404, 403, 500, 503]
    for what, answer in answers.items():
        for name, value in SECURITY_HEADERS.items():
            assert value in answer.headers.get(name, ""), (what, name)
        if what != "stylesheet":
            assert answer.headers["cache-control"] == "no-store", what
            assert "text/html" in answer.headers["content-type"], what
    assert "Something went wrong on the server" in answers["500"].text and "Traceback" not in answers["500"].text
    assert "production record could not be read or written" in answers["503"].text
    assert answers["503"].headers["retry-after"] == "60"

