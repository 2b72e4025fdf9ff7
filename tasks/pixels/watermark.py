"""A proof's watermark: a line of text (the studio's name) laid across the picture, light and see-through, with
a faint dark edge so that it reads on white too, and repeated from top to bottom so that no crop of a proof
comes clean.

Pure: ``apply(image, text, params) -> image`` on float32 display sRGB in [0, 1], HxWx3 (the text drawn by Pillow's
FreeType, its bundled font); no Prefect, no record, no files."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field

from tasks.pixels import fonts


class WatermarkParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    opacity: float = Field(0.35, ge=0.05, le=1.0, description="How much of the text's white covers the picture.")
    size: float = Field(0.09, ge=0.02, le=0.5, description="Text height as a share of the picture's short edge.")
    repeats: int = Field(3, ge=1, le=9, description="Lines of text, spread from top to bottom.")


def _font(size: int) -> ImageFont.FreeTypeFont:
    return fonts.font(size)


def apply(image: np.ndarray, text: str, params: WatermarkParams = WatermarkParams()) -> np.ndarray:
    """``image`` with ``text`` across it, ``params.repeats`` times from top to bottom."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"a watermark goes on an HxWx3 image, not {image.shape}")
    height, width = image.shape[:2]
    text = " ".join(text.split()) or "proof"
    font = _font(round(min(width, height) * params.size))
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    while x1 - x0 > width * 0.9 and font.size > 8:          # a long name on a narrow picture: smaller
        font = _font(int(font.size * 0.85))
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    stroke = max(1, font.size // 20)
    edge = Image.new("L", (width, height), 0)
    edge_draw = ImageDraw.Draw(edge)
    for n in range(params.repeats):
        centre = (n + 0.5) / params.repeats
        at = ((width - (x1 - x0)) / 2 - x0, height * centre - (y1 - y0) / 2 - y0)
        edge_draw.text(at, text, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        draw.text(at, text, font=font, fill=255)
    fill = np.asarray(mask, np.float32)[..., None] / 255.0
    ring = np.clip(np.asarray(edge, np.float32)[..., None] / 255.0 - fill, 0.0, 1.0)
    out = image * (1.0 - ring * params.opacity * 0.6)
    out = out * (1.0 - fill * params.opacity) + fill * params.opacity
    return np.clip(out, 0.0, 1.0).astype(np.float32)
