"""The order's progress artifact as a lead sees it in the Prefect UI: a real local Prefect server (`prefect server
start`, which serves the UI), an order waiting for retouchers with one photo held, the artifact's page opened in
headless Chromium. It must show the artifact, rendered, on the order run; the screenshot is written to
docs/screenshots/progress-artifact.png (POSTLINE_SCREENSHOTS elsewhere), where the README shows it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from record import people, work
from record.db import transaction
from surfaces.actions.queue import pull_to_folder, release
from tasks.synthetic import write_card
from tasks.verify import verify
from tests.browser import chromium_page, free_port
from tests.flowkit import MANUAL_SKIN_LINE, retouch_everything, wait_until_paused

SCREENSHOTS = Path(os.environ.get("POSTLINE_SCREENSHOTS", Path(__file__).resolve().parents[1] / "docs" / "screenshots"))


@contextmanager
def prefect_server(folder: Path) -> Iterator[str]:
    """`prefect server start` on a free port with a home of its own; yields its base URL (the UI; the API under
    /api) and stops it afterwards."""
    port = free_port()
    env = dict(os.environ, PREFECT_HOME=str(folder), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api",
               PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{folder / 'prefect.db'}")
    env.pop("PREFECT_API_URL", None)
    log = (folder / "server.log").open("w")
    server = subprocess.Popen([str(Path(sys.executable).with_name("prefect")), "server", "start", "--host",
                               "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_the_progress_artifact_in_the_prefect_ui(home, line_file, monkeypatch, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.order import order_flow
    from surfaces.actions.orders import create_order

    line_file(MANUAL_SKIN_LINE)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    (tmp_path / "prefect").mkdir()
    with prefect_server(tmp_path / "prefect") as base, temporary_settings(updates={PREFECT_API_URL: f"{base}/api"}):
        monkeypatch.setenv("PREFECT_API_URL", f"{base}/api")
        with transaction() as session:
            people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password="s3cret-pass")
        order_id = create_order(client="Anna & Ben", shoot="wedding", card=write_card(tmp_path / "card", 3),
                                preset_name=None, due=None).id
        result: dict = {}

        def run() -> None:
            with temporary_settings(updates={PREFECT_API_URL: f"{base}/api"}):
                result["package"] = order_flow(order_id)
        runner = threading.Thread(target=run, daemon=True)
        runner.start()
        wait_until_paused(order_id, "liquify_skin", runner, timeout=300)
        held, _ = pull_to_folder(person="rita", folder=tmp_path / "rita")   # one photo held: the artifact names her
        with get_client(sync_client=True) as client:
            [artifact] = client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[f"order-{order_id}-progress"])))
            order_run = client.read_flow_run(artifact.flow_run_id)
        with transaction() as session:
            assert work.get_order(session, order_id).run_flow_run_id == str(order_run.id)
        assert order_run.name == f"Anna & Ben · order {order_id}"

        with chromium_page(width=1400, height=1000) as page:
            page.goto(f"{base}/artifacts/artifact/{artifact.id}")
            page.get_by_text("waiting for retouchers at Liquify & skin").first.wait_for(timeout=60_000)
            page.get_by_text("rita (1)").first.wait_for()
            page.wait_for_timeout(500)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shot = SCREENSHOTS / "progress-artifact.png"
            page.screenshot(path=str(shot), full_page=True)
            table = page.locator("table").first.inner_text()
        assert "Liquify & skin" in table and "people (manual)" in table and "rita (1)" in table
        assert shot.stat().st_size > 20_000

        release(item_id=held.id, person="rita")
        retouch_everything("rita", tmp_path / "rita")
        runner.join(timeout=300)
        assert verify(Path(result["package"])) == []
