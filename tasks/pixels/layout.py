"""Design & layout: album spreads from templates. Display space (sRGB-encoded float32 [0,1]) in and out.

A template (``layout_templates.toml``) is a list of cells in shares of the spread's live area. The
spread is ``width_mm`` x ``height_mm`` plus ``bleed_mm`` on every side, at ``dpi``; cells sit inside
``margin_mm`` with ``gutter_mm`` between them. Each photo fills its cell by cover-crop (scaled to
cover the cell, the rest cropped, aspect kept), the crop centred on the photo's faces if any, else on
its centre. Resampling is Pillow's Lanczos on float channels (no 8-bit step)."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.errors import Invalid
from tasks.pixels import faces as face_finder

TEMPLATES_FILE = Path(__file__).with_name("layout_templates.toml")
MM_PER_INCH = 25.4


class Cell(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float = Field(gt=0, le=1)
    h: float = Field(gt=0, le=1)


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    title: str = ""
    cells: tuple[Cell, ...] = Field(min_length=1)

    @field_validator("cells", mode="before")
    @classmethod
    def _from_lists(cls, value):
        return [dict(zip("xywh", c)) if isinstance(c, (list, tuple)) else c for c in value]


class SpreadParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = 1
    width_mm: float = Field(600, gt=0, le=2000, description="Trimmed spread width (two pages), mm.")
    height_mm: float = Field(300, gt=0, le=2000, description="Trimmed spread height, mm.")
    dpi: int = Field(300, ge=72, le=1200, description="Print resolution, pixels per inch.")
    bleed_mm: float = Field(3, ge=0, le=20, description="Extra printed edge on every side, trimmed off.")
    margin_mm: float = Field(10, ge=0, le=100, description="Space between the trim edge and the photos.")
    gutter_mm: float = Field(4, ge=0, le=50, description="Space between neighbouring photos.")
    background: tuple[float, float, float] = Field((1.0, 1.0, 1.0), description="Paper colour, display RGB 0..1.")
    face_params: face_finder.FaceParams = face_finder.FaceParams()

    def px(self, mm: float) -> int:
        return int(round(mm * self.dpi / MM_PER_INCH))

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of the spread with its bleed, in pixels."""
        return self.px(self.width_mm + 2 * self.bleed_mm), self.px(self.height_mm + 2 * self.bleed_mm)


class LayoutError(Invalid):
    pass


@lru_cache(maxsize=4)
def load_templates(path: Path = TEMPLATES_FILE) -> dict[str, Template]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return {name: Template(name=name, **body) for name, body in data.get("templates", {}).items()}
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise LayoutError(f"{path}: cannot read the layout templates: {exc}") from exc


def cell_boxes(template: Template, params: SpreadParams) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) in spread pixels for each cell: margins and bleed applied, gutters taken out."""
    bleed, margin, half_gutter = params.bleed_mm, params.margin_mm, params.gutter_mm / 2
    live_w, live_h = params.width_mm - 2 * margin, params.height_mm - 2 * margin
    boxes = []
    for c in template.cells:
        left, top = c.x * live_w, c.y * live_h
        right, bottom = (c.x + c.w) * live_w, (c.y + c.h) * live_h
        left += half_gutter if c.x > 1e-3 else 0
        top += half_gutter if c.y > 1e-3 else 0
        right -= half_gutter if c.x + c.w < 1 - 1e-3 else 0
        bottom -= half_gutter if c.y + c.h < 1 - 1e-3 else 0
        ox, oy = bleed + margin, bleed + margin
        boxes.append((params.px(ox + left), params.px(oy + top), params.px(ox + right), params.px(oy + bottom)))
    return boxes


def cover_crop(photo: np.ndarray, width: int, height: int, centre: tuple[float, float] | None = None
               ) -> np.ndarray:
    """``photo`` scaled to cover width x height and cropped to it, the crop as near ``centre`` (x, y in
    photo pixels) as the photo allows; aspect kept. HxWx3 float32 out."""
    ph, pw = photo.shape[:2]
    scale = max(width / pw, height / ph)
    crop_w, crop_h = min(pw, width / scale), min(ph, height / scale)
    cx, cy = centre if centre is not None else (pw / 2, ph / 2)
    x0 = float(np.clip(cx - crop_w / 2, 0, pw - crop_w))
    y0 = float(np.clip(cy - crop_h / 2, 0, ph - crop_h))
    box = (x0, y0, x0 + crop_w, y0 + crop_h)
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(photo[..., c]), "F")
                           .resize((width, height), Image.LANCZOS, box=box)) for c in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


def face_centre(photo: np.ndarray, params: face_finder.FaceParams = face_finder.FaceParams()
                ) -> tuple[float, float] | None:
    """Area-weighted centre of the photo's faces, or None."""
    found = face_finder.detect(photo, params)
    if not found:
        return None
    weights = np.array([f.w * f.h for f in found], float)
    centres = np.array([f.centre for f in found], float)
    x, y = (centres * weights[:, None]).sum(axis=0) / weights.sum()
    return float(x), float(y)


def spread(photos: Sequence[np.ndarray], template: Template | str, params: SpreadParams = SpreadParams()
           ) -> np.ndarray:
    """One spread: the photos in the template's cells, in order. HxWx3 float32, the spread's size with bleed."""
    template = load_templates()[template] if isinstance(template, str) else template
    if len(photos) != len(template.cells):
        raise LayoutError(f"template {template.name!r} has {len(template.cells)} cells, got {len(photos)} photos")
    width, height = params.size_px
    page = np.empty((height, width, 3), np.float32)
    page[:] = np.asarray(params.background, np.float32)
    for photo, (x0, y0, x1, y1) in zip(photos, cell_boxes(template, params)):
        if photo.dtype != np.float32 or photo.ndim != 3:
            raise ValueError(f"expected float32 HxWx3 photos, got {photo.dtype} {photo.shape}")
        page[y0:y1, x0:x1] = cover_crop(photo, x1 - x0, y1 - y0, face_centre(photo, params.face_params))
    return page


def plan(count: int, sequence: Sequence[str], templates: dict[str, Template]) -> list[str]:
    """Template names for ``count`` photos: ``sequence`` in turn; the last spread takes a template with
    exactly the photos left (or spreads of one)."""
    by_size = {len(t.cells): name for name, t in templates.items()}
    names, left, turn = [], count, 0
    while left:
        name = sequence[turn % len(sequence)]
        turn += 1
        cells = len(templates[name].cells)
        if cells > left:
            name = by_size.get(left) or by_size[1]
            cells = len(templates[name].cells)
        names.append(name)
        left -= cells
    return names


def lay_out(photos: Sequence[np.ndarray], params: SpreadParams = SpreadParams(),
            sequence: Sequence[str] = ("hero-left", "two-up", "three-grid")) -> list[np.ndarray]:
    """Every photo on a spread, in order."""
    templates = load_templates()
    unknown = [n for n in sequence if n not in templates]
    if unknown or not sequence:
        raise LayoutError(f"unknown templates {unknown}; known: {sorted(templates)}")
    spreads, start = [], 0
    for name in plan(len(photos), sequence, templates):
        cells = len(templates[name].cells)
        spreads.append(spread(photos[start:start + cells], templates[name], params))
        start += cells
    return spreads
