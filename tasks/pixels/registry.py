"""Every retouch operation by name: what a line's ``operation = "..."`` runs, with what parameters, in
which colour space (the contract: ``tasks.pixels.contract``). The pixel maths stays in its module; this
is the table. Grading is not here: it decodes a RAW with the order's preset (``tasks.operations.grade``),
it is not an image-to-image operation with parameters of its own.

A new operation: a module with a params model (``OpParams``) and ``apply(image, params)``, a row below,
and a member of ``config.line.Operation`` of the same name (tests/test_operations.py checks they match)."""

from __future__ import annotations

from tasks.pixels import blemish, detail, dodgeburn, finish, skin
from tasks.pixels.contract import ColourSpace, OpParams, ParamsError, PixelOperation

DISPLAY = ColourSpace.DISPLAY_SRGB

REGISTRY: dict[str, PixelOperation] = {op.name: op for op in (
    PixelOperation("skin", skin.SkinParams, skin.apply, DISPLAY, DISPLAY, upgrades={1: skin.upgrade},
                   summary="Skin smoothing on detected faces' skin only, texture kept; no face, no change."),
    PixelOperation("skin_tones", skin.SkinTonesParams, skin.apply_skin_tones, DISPLAY, DISPLAY,
                   summary="Skin smoothing on every skin-coloured pixel, faces or not."),
    PixelOperation("blemish", blemish.BlemishParams, blemish.apply, DISPLAY, DISPLAY,
                   summary="Small dark or red spots on faces' skin filled in (inpainting)."),
    PixelOperation("detail", detail.DetailParams, detail.apply, DISPLAY, DISPLAY,
                   summary="Local contrast on luminance."),
    PixelOperation("dodge_burn", dodgeburn.DodgeBurnParams, dodgeburn.apply, DISPLAY, DISPLAY,
                   summary="Shadows lifted and highlights held locally, on luminance."),
    PixelOperation("finish", finish.FinishParams, finish.apply, DISPLAY, DISPLAY,
                   summary="Output sharpening (unsharp mask on luminance)."),
)}


def get(name: str) -> PixelOperation:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no retouch operation {name!r}; there are {', '.join(REGISTRY)}") from None


__all__ = ["REGISTRY", "ColourSpace", "OpParams", "ParamsError", "PixelOperation", "get"]
