"""The text postline draws on pictures (contact sheets, proofs' watermarks) has the letters of clients' and
studios' names: Pillow's built-in face drew "Émilie & Jörg" as "▯milie & J▯rg" on the contact sheet a client
gets, and "PROOF · Atelier Lumi▯re" across every proof."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tasks.pixels import fonts, watermark

NAMES = ["Émilie & Jörg", "Atelier Lumière", "Zoë & Łukasz", "Ωμέγα Παπαδοπούλου", "Дмитрий Иванов", "Straße © 2026"]


def _drawn(text: str, size: int = 32) -> np.ndarray:
    font = fonts.font(size)
    image = Image.new("L", (int(font.getlength(text)) + 20, size * 2), 0)
    ImageDraw.Draw(image).text((10, size // 2), text, font=font, fill=255)
    return np.asarray(image)


@pytest.mark.parametrize("name", NAMES)
def test_every_letter_of_a_name_is_drawn_not_a_box(name):
    missing = _drawn("\U0010fffd")                 # a code point no face has: its "missing letter" box
    for letter in {c for c in name if not c.isspace()}:
        drawn = _drawn(letter)
        assert drawn.any(), letter
        assert drawn.shape != missing.shape or not np.array_equal(drawn, missing), f"{letter!r} of {name!r} is a box"


def test_a_proof_watermark_draws_the_studios_accented_letter_not_a_box():
    """"PROOF · Atelier Lumière" across a proof: è is drawn as è, not as the box a face draws for a letter it lacks
    (written here as a code point no face has)."""
    grey = np.full((300, 900, 3), 0.4, np.float32)
    params = watermark.WatermarkParams(repeats=1)
    accented = watermark.apply(grey, "PROOF · Atelier Lumière", params)
    boxed = watermark.apply(grey, "PROOF · Atelier Lumi\U0010fffdre", params)
    assert np.abs(accented - grey).max() > 0.1                       # drawn
    assert not np.array_equal(accented, boxed)
