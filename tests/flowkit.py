"""Helpers for tests that run whole orders: make a card folder, run an order, open its delivery."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from PIL import Image

from flows.order import order_flow
from surfaces.cli import create_order


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


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
