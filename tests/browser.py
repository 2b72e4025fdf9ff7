"""Helpers for tests that drive a real browser: Debian's Chromium through Playwright, and an ASGI app served
by uvicorn in a background thread on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(app, *, timeout: float = 15.0, **config) -> Iterator[str]:  # noqa: ANN001, ANN003 - an ASGI app
    """Serve ``app`` with uvicorn in a thread; yields its base URL (http://, also when ``config`` gives uvicorn
    a certificate); stops it afterwards."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                           **config))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium_page(*, width: int = 1280, height: int = 900) -> Iterator[object]:
    """A Playwright page in headless Debian Chromium with a fresh profile. Fails (not skips) when Chromium is
    missing: `make test` installs it (tests/system-deps.sh)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`; `make test` "
                    "does this through tests/system-deps.sh). Playwright's own browser download is not used.")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="postline-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height}, accept_downloads=True)
        try:
            context.set_default_timeout(15_000)
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def until(page, expression: str, timeout: float = 15.0) -> None:  # noqa: ANN001 - a Playwright page
    """Wait until ``expression`` (JavaScript) is true in ``page``. Not Playwright's wait_for_function: it evaluates a
    string with eval(), which the pages' Content-Security-Policy (script-src 'self') refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"never true in the page: {expression}")
        time.sleep(0.05)


def sign_in(page, base: str, name: str, password: str) -> None:  # noqa: ANN001 - a Playwright page
    """Sign ``name`` in on the web page served at ``base``."""
    page.goto(f"{base}/signin")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("header .who")
