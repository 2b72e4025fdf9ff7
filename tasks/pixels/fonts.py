"""The typeface of the text postline draws on pictures: the contact sheet's heading and captions, the proofs'
watermark, a rendition's text watermark. Clients' and studios' names are written in it ("Émilie & Jörg",
"Atelier Lumière", "Ωμέγα", "Дмитрий"), so it must have their letters: Pillow's built-in face has ASCII only and
drew every other letter as an empty box.

DejaVu Sans (Bitstream Vera licence, typeface/LICENSE), kept with postline so every machine draws the same
pictures: Latin, Greek and Cyrillic letters; not Chinese, Japanese or Korean ones."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FACE = Path(__file__).resolve().parent / "typeface" / "DejaVuSans.ttf"


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """The typeface at ``size`` pixels (at least 8)."""
    return ImageFont.truetype(str(FACE), max(8, size))
