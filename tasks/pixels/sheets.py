"""Contact sheets and the album's print PDF. Display space (sRGB-encoded) in; JPEG pages and PDF files out
(Pillow writes both: a PDF page is the page's JPEG, sized by its dpi).

A contact sheet is A4 landscape pages: a heading (the studio, the client, the order), then a grid of
thumbnails, each with its sequence number and file name under it. The album PDF is one page per spread at
the spread's size with its bleed (tasks/pixels/layout.py), at the recipe's dpi."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tasks.pixels import fonts

A4_LANDSCAPE_MM = (297.0, 210.0)
MM_PER_INCH = 25.4
PAPER = (255, 255, 255)
INK = (40, 40, 40)
FAINT = (120, 120, 120)


def _font(size: int) -> ImageFont.FreeTypeFont:
    return fonts.font(size)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def contact_pages(thumbs: Sequence[Image.Image], labels: Sequence[str], *, heading: str, columns: int, rows: int,
                  dpi: int) -> Iterator[Image.Image]:
    """The contact sheet's pages, one at a time: ``thumbs`` (RGB images, taken from the sequence as each page
    needs them) in a ``columns`` x ``rows`` grid per page, each with its label under it, ``heading`` and the page
    number on top."""
    page_w, page_h = (round(mm / MM_PER_INCH * dpi) for mm in A4_LANDSCAPE_MM)
    margin = round(10 / MM_PER_INCH * dpi)
    head = _font(round(dpi * 0.14))
    small = _font(round(dpi * 0.075))
    top = margin + round(dpi * 0.3)
    cell_w = (page_w - 2 * margin) // columns
    cell_h = (page_h - top - margin) // rows
    label_h = round(dpi * 0.12)
    per_page = columns * rows
    count = max(1, -(-len(thumbs) // per_page))
    for number in range(count):
        page = Image.new("RGB", (page_w, page_h), PAPER)
        draw = ImageDraw.Draw(page)
        draw.text((margin, margin), _fit(draw, heading, head, page_w - 2 * margin - dpi), font=head, fill=INK)
        draw.text((page_w - margin, margin), f"{number + 1} / {count}", font=small, fill=FAINT, anchor="ra")
        for slot, index in enumerate(range(number * per_page, min(len(thumbs), (number + 1) * per_page))):
            x = margin + (slot % columns) * cell_w
            y = top + (slot // columns) * cell_h
            box_w, box_h = cell_w - round(dpi * 0.08), cell_h - label_h - round(dpi * 0.08)
            thumb = thumbs[index]
            thumb.thumbnail((box_w, box_h), Image.LANCZOS)
            page.paste(thumb, (x + (box_w - thumb.width) // 2, y + (box_h - thumb.height) // 2))
            draw.text((x, y + box_h + round(dpi * 0.02)), _fit(draw, labels[index], small, box_w), font=small,
                      fill=INK)
        yield page


def page_count(photos: int, columns: int, rows: int) -> int:
    return max(1, -(-photos // (columns * rows)))


def jpeg(page: Image.Image, *, dpi: int, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    page.save(buffer, "JPEG", quality=quality, dpi=(dpi, dpi))
    return buffer.getvalue()


def add_pdf_page(path: Path, page: Image.Image, *, first: bool, dpi: int, quality: int = 90, title: str = "") -> None:
    """``page`` as the next page of the PDF at ``path`` (a new PDF when ``first``), the size of the image at
    ``dpi``, JPEG-compressed at ``quality``: one page in memory at a time, however many there are."""
    page.save(path, "PDF", append=not first, resolution=float(dpi), quality=quality, title=title, creator="postline")


def to_image(display: np.ndarray) -> Image.Image:
    """A display-space float image as an 8-bit RGB Pillow image."""
    return Image.fromarray(np.rint(np.clip(display, 0.0, 1.0) * 255.0).astype(np.uint8), "RGB")
