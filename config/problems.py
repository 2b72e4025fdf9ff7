"""A pydantic validation error as a sentence a studio acts on: the key as the file spells it and what is allowed.
Presets, recipes and the line file share it."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def excerpt(value: Any, limit: int = 40) -> str:
    """A short, escaped rendering of a value read from a file, for an error message: ``repr`` (control
    characters escaped) cut to ``limit`` characters; a table only by its kind."""
    if isinstance(value, dict):
        return "a table"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _model_in(annotation: Any) -> Any:
    """The pydantic model an annotation holds: itself, or the one inside ``tuple[Stage, ...]``, ``X | None``..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), None)


def field_info(loc: tuple, model: Any) -> Any:
    """The pydantic FieldInfo of ``model`` at a location such as ('tone', 'exposure_ev'), or None."""
    info = None
    for part in loc:
        fields = getattr(model, "model_fields", None) or {}
        if part not in fields:
            return None
        info = fields[part]
        model = _model_in(info.annotation)
    return info


def describe_error(err: dict, *, model: type[BaseModel], unknown_hint: str) -> str:
    """One pydantic error of ``model`` as a sentence naming the key and what is allowed (the whole range of the
    field, not only the bound crossed)."""
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key '{key}' ({unknown_hint})"
    ctx = err.get("ctx") or {}
    info = field_info(tuple(p for p in err["loc"] if isinstance(p, str)), model)
    bounds = [f"{word} {getattr(meta, attr)}" for meta in getattr(info, "metadata", None) or []
              for attr, word in BOUNDS if getattr(meta, attr, None) is not None]
    if not bounds:
        bounds = [f"{word} {ctx[k]}" for k, word in BOUNDS if k in ctx]
    if "expected" in ctx:
        bounds = [f"one of {ctx['expected']}"]
    allowed = f" (allowed: {' and '.join(bounds)})" if bounds else ""
    if err["type"] == "missing":                  # its input is the whole table around the key: not quoted
        return f"'{key}': {err['msg']}{allowed}"
    return f"'{key}' = {excerpt(err.get('input'))}: {err['msg']}{allowed}"
