"""The package's sheets, from the files each photo's pass made (tasks/deliver_render.py): the contact sheet
(JPEG pages and one PDF) and the album's print-ready PDF (one page per spread, laid out from templates by
tasks/pixels/layout.py at the recipe's dpi, with bleed).

The album is made a spread at a time (only its photos in memory), each page appended to the PDF as it is
done, and kept in the order's work folder keyed by its photos and dpi, so re-packaging does not lay it out
again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

from config.recipe import Recipe
from tasks.files import work_path
from tasks.pixels import layout, sheets

SEQUENCE = ("hero-left", "two-up", "three-grid")


def contact_sheets(thumbs: list[Path], labels: list[str], heading: str, recipe: Recipe) -> dict[str, bytes]:
    """File name -> bytes: ``contact-sheet.jpg`` (or ``contact-sheet-01.jpg``... for several pages) and
    ``contact-sheet.pdf``."""
    grid = recipe.contact_sheet
    images = []
    for path in thumbs:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    pages = sheets.contact_pages(images, labels, heading=heading, columns=grid.columns, rows=grid.rows, dpi=grid.dpi)
    out = {}
    for number, page in enumerate(pages, start=1):
        name = "contact-sheet.jpg" if len(pages) == 1 else f"contact-sheet-{number:02d}.jpg"
        out[name] = sheets.jpeg(page, dpi=grid.dpi)
    out["contact-sheet.pdf"] = sheets.pdf(pages, dpi=grid.dpi, title=heading)
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
            sheets.to_image(spread).save(tmp, "PDF", append=index > 0, resolution=float(params.dpi),
                                         quality=recipe.album.quality, creator="postline")
            del spread
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
