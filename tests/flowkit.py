"""Helpers for tests that run whole orders: run an order (or the CLI), see it wait for people, open its
delivery."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path
from uuid import UUID

from PIL import Image
from prefect.client.orchestration import get_client

from flows.order import order_flow
from record import work
from record.db import transaction
from record.models import EventKind, PhotoStatus
from surfaces.actions.orders import create_order
from surfaces.actions.queue import hand_back, pull_to_folder
from surfaces.cli import main
from tasks.pixels import imageio


# A line whose Liquify & skin stage is worked by people (the rest automatic), for the human-line tests.
MANUAL_SKIN_LINE = """
[[stages]]
key = "cull_grade"
title = "Cull & grade"
operation = "grade"

[[stages]]
key = "liquify_skin"
title = "Liquify & skin"
mode = "manual"

[[stages]]
key = "fine_retouch"
title = "Fine retouch & colour"
operation = "detail"

[[stages]]
key = "design_layout"
title = "Design & layout"
operation = "finish"
"""


def run_order(card: Path, *, client: str = "Test Client", shoot: str = "portrait", preset: str | None = None,
              **options) -> tuple[int, Path]:
    """Create an order on ``card`` (``options``: more of create_order's, e.g. deliver_chart) and run it."""
    order = create_order(client=client, shoot=shoot, card=card, preset_name=preset, due=None, **options)
    return order.id, Path(order_flow(order.id))


def cli(*argv: str) -> tuple[int, str]:
    """`postline ARGV...` in this process: its exit code and what it printed (stdout and stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    return code, out.getvalue()


def cli_order(card: Path, *, client: str = "Test Client", shoot: str = "portrait") -> int:
    """`postline order create ... --no-selection` on ``card``: the new order's id (the id alone on its last line)."""
    code, created = cli("order", "create", "--client", client, "--shoot", shoot, "--from", str(card), "--no-selection")
    assert code == 0, created
    return int(created.strip().splitlines()[-1])


def paused_run(order_id: int, stage: str) -> str | None:
    """The name of the order's flow run when it is paused waiting on ``stage`` (a stage worked by people or a
    gate); None when it is not."""
    with transaction() as session:
        order = work.get_order(session, order_id)
    if order.waiting_on != stage or not order.flow_run_id:
        return None
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(order.flow_run_id))
    return run.name if run.state and run.state.is_paused() else None


def wait_until_paused(order_id: int, stage: str, runner: threading.Thread, timeout: float = 120) -> str:
    """Until the order's flow run (in ``runner``) is paused on ``stage`` (a hand-back or a decision wakes it only
    then); the paused run's name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert runner.is_alive(), "the order's flow run ended instead of waiting"
        name = paused_run(order_id, stage)
        if name is not None:
            return name
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} never waited on {stage}")


class Delivery:
    """A delivery package (or one of its ZIPs), opened the way a client or a lab would: files read from the ZIPs
    the manifest names; whether it is whole is the product's own check (`postline verify`, tasks/verify.py)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.is_dir():
            self.manifest = json.loads((self.path / "manifest.json").read_text(encoding="utf-8"))
        else:
            with zipfile.ZipFile(self.path) as archive:
                self.manifest = json.loads(archive.read("manifest.json"))

    def read(self, entry: dict) -> bytes:
        zip_file = self.path / entry["zip"] if self.path.is_dir() else self.path
        with zipfile.ZipFile(zip_file) as archive:
            return archive.read(entry["path"])

    def image(self, entry: dict) -> Image.Image:
        image = Image.open(io.BytesIO(self.read(entry)))
        image.load()
        return image

    def full(self, source_name: str) -> Image.Image:
        return self.image(self.entry(source_name, "full"))

    def web(self, source_name: str) -> Image.Image:
        return self.image(self.entry(source_name, "web"))

    def entry(self, source_name: str, rendition: str) -> dict:
        return next(e for e in self.manifest["files"]
                    if e["source_name"] == source_name and e["rendition"] == rendition)

    def delivered_sources(self) -> set[str]:
        return {e["source_name"] for e in self.manifest["files"] if e.get("source_name")}

    def mismatches(self) -> list[str]:
        """Every difference between the delivery and its manifest (`postline verify`)."""
        from tasks.verify import verify

        return verify(self.path)


def photos_by_name(order_id: int) -> dict:
    """The order's photos by their name on the card (record.models.Photo rows)."""
    with transaction() as session:
        return {p.source_name: p for p in work.photos(session, order_id)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def retouch_everything(person: str, folder: Path) -> list[str]:
    """Pull every item this person can, 'edit' it (a small, real change: 3% darker, 1% more each round, as a
    rework's edit differs from the round before's), hand it back; the items done as "photo:rROUND"."""
    done = []
    while (pulled := pull_to_folder(person=person, folder=folder)) is not None:
        item, path = pulled
        out = path.with_name(path.stem + "-done.tif")
        imageio.write_working_tiff(out, imageio.read_working_tiff(path) * (0.98 - 0.01 * item.round))
        hand_back(item_id=item.id, person=person, file=out)
        done.append(f"{item.photo_id}:r{item.round}")
    return done


def delivered_once(order_id: int, photos: int) -> None:
    """Every one of the order's ``photos`` photos delivered, each once, none worked twice at a stage, none failed
    or rejected: what an order that rode out a machine failure must show."""
    with transaction() as session:
        found = work.photos(session, order_id)
        events = work.events(session, order_id)
    assert {p.status for p in found} == {PhotoStatus.DELIVERED} and len(found) == photos
    assert Counter(e.photo_id for e in events if e.kind is EventKind.DELIVERED) == {p.id: 1 for p in found}
    submits = Counter((e.photo_id, e.stage, e.round) for e in events if e.kind is EventKind.SUBMITTED)
    assert max(submits.values()) == 1, "a finished photo was processed again"
    assert not [e for e in events if e.kind in (EventKind.FAILED, EventKind.REJECTED)]
