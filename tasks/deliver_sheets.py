"""The package's sheets, from the files each photo's pass made (tasks/deliver_render.py): the contact sheet
(JPEG pages and one PDF) and the album's print-ready PDF (one page per spread, laid out from templates by
tasks/pixels/layout.py at the recipe's dpi, with bleed).

The album is made a spread at a time (only its photos in memory), each page appended to the PDF as it is
done, and kept in the order's work folder keyed by its photos and dpi, so re-packaging does not lay it out
again."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from config.recipe import Recipe
from tasks.files import work_path
from tasks.pixels import layout, sheets

SEQUENCE = ("hero-left", "two-up", "three-grid")


class _Thumbs(Sequence):
    """The thumbnails, each opened when its page is drawn (an order of thousands never holds them all)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Image.Image:
        with Image.open(self.paths[index]) as image:
            return image.convert("RGB")


def contact_sheets(order_id: int, thumbs: list[Path], labels: list[str], heading: str, recipe: Recipe
                   ) -> dict[str, bytes | Path]:
    """File name -> bytes (or the file holding them): ``contact-sheet.jpg`` (``contact-sheet-01.jpg``... for
    several pages) and ``contact-sheet.pdf``, made a page at a time."""
    grid = recipe.contact_sheet
    count = sheets.page_count(len(thumbs), grid.columns, grid.rows)
    pdf = work_path(order_id, "delivery", 0, 0, "-contact-sheet.pdf")
    pdf.parent.mkdir(parents=True, exist_ok=True)
    tmp = pdf.with_name(f".{pdf.name}.{os.getpid()}.tmp")
    out: dict[str, bytes | Path] = {}
    try:
        pages = sheets.contact_pages(_Thumbs(thumbs), labels, heading=heading, columns=grid.columns, rows=grid.rows,
                                     dpi=grid.dpi)
        for number, page in enumerate(pages, start=1):
            name = "contact-sheet.jpg" if count == 1 else f"contact-sheet-{number:02d}.jpg"
            out[name] = sheets.jpeg(page, dpi=grid.dpi)
            sheets.add_pdf_page(tmp, page, first=number == 1, dpi=grid.dpi, title=heading)
        os.replace(tmp, pdf)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    out["contact-sheet.pdf"] = pdf
    return out


def _display(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.float32) / 255.0


def album_pdf(order_id: int, photos: list[Path], recipe: Recipe) -> Path:
    """The album's spreads as one PDF, every photo in order; its path (made once per set of photos and dpi)."""
    params = layout.SpreadParams(dpi=recipe.album.dpi)
    key = hashlib.sha256("\n".join([str(recipe.album), *map(str, photos)]).encode()).hexdigest()[:16]
    target = work_path(order_id, "delivery", 0, 0, f"-album-{key}.pdf")
    if target.is_file():
        return target
    templates = layout.load_templates()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        start = 0
        for index, name in enumerate(layout.plan(len(photos), SEQUENCE, templates)):
            cells = len(templates[name].cells)
            spread = layout.spread([_display(p) for p in photos[start:start + cells]], templates[name], params)
            start += cells
            sheets.add_pdf_page(tmp, sheets.to_image(spread), first=index == 0, dpi=params.dpi,
                                quality=recipe.album.quality)
            del spread
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
