"""The preset format: a graded look as data, validated when loaded.

A preset file is ``presets/<name>.toml``. Every value has bounds and a default,
so a preset names only what it changes. Unknown keys are errors (a typo must not
silently grade a whole wedding differently).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PRESET_DIR = Path(__file__).parent
FORMAT_VERSION = 1


class WhiteBalance(StrEnum):
    AS_SHOT = "as_shot"
    AUTO = "auto"


class Demosaic(StrEnum):
    AHD = "AHD"
    DHT = "DHT"
    AAHD = "AAHD"
    PPG = "PPG"
    VNG = "VNG"
    LINEAR = "LINEAR"


class HighlightMode(StrEnum):
    CLIP = "clip"
    BLEND = "blend"
    RECONSTRUCT = "reconstruct"


class DecodeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    white_balance: WhiteBalance = Field(WhiteBalance.AS_SHOT, description="Camera's as-shot white balance, or LibRaw's auto.")
    demosaic: Demosaic = Field(Demosaic.AHD, description="LibRaw demosaic algorithm.")
    highlight_mode: HighlightMode = Field(HighlightMode.CLIP, description="What to do with clipped highlights.")


class ToneParams(BaseModel):
    """Global adjustments, applied in linear light in the working space (Rec.2020), in this order."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    exposure_ev: float = Field(0.0, ge=-5, le=5, description="Exposure change in stops.")
    temperature: float = Field(0.0, ge=-100, le=100, description="Warm (+) or cool (-) shift on top of the white balance.")
    tint: float = Field(0.0, ge=-100, le=100, description="Magenta (+) or green (-) shift.")
    contrast: float = Field(0.0, ge=-100, le=100, description="S-curve strength around middle grey.")
    saturation: float = Field(0.0, ge=-100, le=100, description="Uniform saturation change.")
    vibrance: float = Field(0.0, ge=-100, le=100, description="Saturation change weighted to muted colours.")


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")
    version: int = Field(1, ge=1, description="Bump when the look changes, so reprints can tell.")
    description: str = Field("", max_length=500)
    decode: DecodeParams = DecodeParams()
    tone: ToneParams = ToneParams()

    def resolved_hash(self) -> str:
        """SHA-256 of the resolved values: two renders with the same hash are the same look."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class PresetError(ValueError):
    """A preset cannot be used; the message names the file, the key and what is allowed."""


def _describe(err: dict) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key '{key}' (check the spelling; see presets/neutral.toml for every key)"
    ctx = err.get("ctx") or {}
    bounds = [f"{word} {ctx[k]}" for k, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")) if k in ctx]
    allowed = f" (allowed: {' and '.join(bounds)})" if bounds else ""
    return f"'{key}' = {err.get('input')!r}: {err['msg']}{allowed}"


def load_preset_file(path: Path) -> Preset:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetError(f"{path}: cannot read preset: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Preset.model_validate(data)
    except ValidationError as exc:
        raise PresetError(f"{path}: " + "; ".join(_describe(e) for e in exc.errors())) from exc


def available_presets(folder: Path = PRESET_DIR) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.toml"))


def load_preset(name: str, folder: Path = PRESET_DIR) -> Preset:
    path = folder / f"{name}.toml"
    if not path.is_file():
        raise PresetError(f"no preset named '{name}' in {folder}; available: {', '.join(available_presets(folder))}")
    preset = load_preset_file(path)
    if preset.name != name:
        raise PresetError(f"{path}: 'name' is {preset.name!r} but the file is {name}.toml; make them match")
    return preset

# The look each kind of shoot gets when the order names no preset.
DEFAULT_FOR_SHOOT = {"wedding": "bright-wedding", "portrait": "classic-portrait", "children": "warm-children"}
