"""The preset format: a graded look as data, validated when loaded.

(Over 400 lines on purpose: the format's models and the reading of its files, extends, overrides and errors naming
the file, key and range, change together whenever the format does.)

A preset file is ``presets/<name>.toml``. Every value has bounds and a default, so a preset names
only what it changes. Unknown keys are errors (a typo must not silently grade a whole wedding
differently). A preset may ``extends = "other"``: the other preset's values, deep-merged with its
own. An order may override single values (``resolve("neutral", {"tone.exposure_ev": 0.3})``).

Format versions (the ``format`` key; files without one are format 1):

- 1: decode (as-shot/auto white balance, demosaic, highlights) and tone (exposure, temperature, tint,
  contrast, saturation, vibrance);
- 2: adds Kelvin white balance and noise reduction to decode; highlights/shadows/whites/blacks to
  tone; tone curve, HSL, split toning, vignette, 3D LUT, sharpening and output sections. The tone
  values of format 1 keep their meaning; ``upgrade_v1`` turns a format-1 mapping into format 2.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config import problems
from config.errors import Invalid
from config.problems import excerpt

PRESET_DIR = Path(__file__).parent
LUT_DIR = PRESET_DIR / "luts"
FORMAT_VERSION = 2
# A preset is named, never pathed: `--preset ../config/line` must not read another file. The name is the file's
# stem in the library folder and the preset's own `name`.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,79}$"
NAME_RULE = "lower-case letters, digits, '-' and '_', starting with a letter or digit, e.g. 'bright-wedding'"


class WhiteBalance(StrEnum):
    AS_SHOT = "as_shot"
    AUTO = "auto"
    KELVIN = "kelvin"


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


class NoiseReduction(StrEnum):
    """LibRaw's FBDD noise reduction, applied before demosaicing."""
    OFF = "off"
    LIGHT = "light"
    FULL = "full"


class Interpolation(StrEnum):
    TETRAHEDRAL = "tetrahedral"
    TRILINEAR = "trilinear"


class OutputSpace(StrEnum):
    SRGB = "srgb"
    ADOBE_RGB = "adobe_rgb"
    DISPLAY_P3 = "display_p3"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecodeParams(_Params):
    """How LibRaw turns the RAW into linear Rec.2020, 16 bits."""
    white_balance: WhiteBalance = Field(WhiteBalance.AS_SHOT, description="Camera's as-shot white balance, LibRaw's auto, or 'kelvin' (uses kelvin and tint).")
    kelvin: float = Field(5500.0, ge=2000, le=12000, description="Colour temperature of the light, when white_balance = 'kelvin'.")
    tint: float = Field(0.0, ge=-150, le=150, description="Tint when white_balance = 'kelvin': + renders more magenta, - more green (Lightroom's sense; daylight D65 is 6500 K, +10).")
    demosaic: Demosaic = Field(Demosaic.AHD, description="LibRaw demosaic algorithm.")
    highlight_mode: HighlightMode = Field(HighlightMode.CLIP, description="What to do with clipped highlights.")
    noise_reduction: NoiseReduction = Field(NoiseReduction.OFF, description="LibRaw FBDD noise reduction before demosaicing.")
    median_passes: int = Field(0, ge=0, le=10, description="Median filter passes after demosaicing (removes colour noise).")


class ToneParams(_Params):
    """Global adjustments, applied in linear light in the working space (Rec.2020), in this order."""
    exposure_ev: float = Field(0.0, ge=-5, le=5, description="Exposure change in stops.")
    temperature: float = Field(0.0, ge=-100, le=100, description="Warm (+) or cool (-) shift on top of the white balance.")
    tint: float = Field(0.0, ge=-100, le=100, description="Magenta (+) or green (-) shift.")
    contrast: float = Field(0.0, ge=-100, le=100, description="S-curve strength around middle grey.")
    highlights: float = Field(0.0, ge=-100, le=100, description="Brightness of the highlights (about 1.5 stops over middle grey); - recovers them.")
    shadows: float = Field(0.0, ge=-100, le=100, description="Brightness of the shadows (about 2.5 stops under middle grey); + opens them.")
    whites: float = Field(0.0, ge=-100, le=100, description="Brightness of the near-white end.")
    blacks: float = Field(0.0, ge=-100, le=100, description="Brightness of the near-black end; - deepens the blacks.")
    saturation: float = Field(0.0, ge=-100, le=100, description="Uniform saturation change.")
    vibrance: float = Field(0.0, ge=-100, le=100, description="Saturation change weighted to muted colours.")


Point = tuple[float, float]
IDENTITY_CURVE: tuple[Point, ...] = ((0.0, 0.0), (1.0, 1.0))


class CurveParams(_Params):
    """Tone curves on display-encoded values (0 = black, 1 = white): master on every channel, then
    one per channel. Points are (input, output) pairs, inputs strictly increasing; a monotone cubic
    spline goes through them."""
    master: tuple[Point, ...] = Field(IDENTITY_CURVE, min_length=2, max_length=16, description="Curve on all three channels.")
    red: tuple[Point, ...] = Field(IDENTITY_CURVE, min_length=2, max_length=16, description="Curve on red.")
    green: tuple[Point, ...] = Field(IDENTITY_CURVE, min_length=2, max_length=16, description="Curve on green.")
    blue: tuple[Point, ...] = Field(IDENTITY_CURVE, min_length=2, max_length=16, description="Curve on blue.")

    @field_validator("master", "red", "green", "blue")
    @classmethod
    def _increasing(cls, points: tuple[Point, ...]) -> tuple[Point, ...]:
        xs = [x for x, _ in points]
        if any(not (0.0 <= v <= 1.0) for p in points for v in p):
            raise ValueError("curve points must lie in [0, 1] (allowed: 0 <= x, y <= 1)")
        if any(b <= a for a, b in zip(xs, xs[1:])):
            raise ValueError("curve inputs must be strictly increasing")
        return points


class HslBand(_Params):
    hue: float = Field(0.0, ge=-100, le=100, description="Hue shift; 100 = halfway to the next band.")
    saturation: float = Field(0.0, ge=-100, le=100, description="Saturation change of this band; -100 = grey.")
    luminance: float = Field(0.0, ge=-100, le=100, description="Brightness change of this band (+-100 = +-1 stop).")


HSL_BANDS = ("red", "orange", "yellow", "green", "aqua", "blue", "purple", "magenta")
HSL_BAND_HUES = (0.0, 30.0, 60.0, 120.0, 180.0, 240.0, 270.0, 300.0)   # degrees, centre of each band


class HslParams(_Params):
    """Hue, saturation and luminance per hue band (Lightroom's eight bands)."""
    red: HslBand = HslBand()
    orange: HslBand = HslBand()
    yellow: HslBand = HslBand()
    green: HslBand = HslBand()
    aqua: HslBand = HslBand()
    blue: HslBand = HslBand()
    purple: HslBand = HslBand()
    magenta: HslBand = HslBand()


class SplitToneParams(_Params):
    highlight_hue: float = Field(0.0, ge=0, le=360, description="Hue tinting the highlights, degrees (0 red, 60 yellow, 240 blue).")
    highlight_saturation: float = Field(0.0, ge=0, le=100, description="Strength of the highlight tint.")
    shadow_hue: float = Field(0.0, ge=0, le=360, description="Hue tinting the shadows, degrees.")
    shadow_saturation: float = Field(0.0, ge=0, le=100, description="Strength of the shadow tint.")
    balance: float = Field(0.0, ge=-100, le=100, description="+ gives the highlight tint more of the range, - the shadow tint.")


class VignetteParams(_Params):
    amount: float = Field(0.0, ge=-100, le=100, description="- darkens the corners, + lightens them.")
    midpoint: float = Field(50.0, ge=0, le=100, description="How far from the centre the falloff starts (% of the half-diagonal).")
    feather: float = Field(50.0, ge=0, le=100, description="Softness of the falloff.")


class LutParams(_Params):
    file: str | None = Field(None, max_length=200, description="A .cube 3D LUT (17-65 points) in presets/luts/, applied to display-encoded sRGB.")
    interpolation: Interpolation = Field(Interpolation.TETRAHEDRAL, description="How the LUT is interpolated between its points.")
    amount: float = Field(1.0, ge=0, le=1, description="Blend of the LUT's result with its input.")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="Set when loaded: the LUT file's checksum, so a reprint uses the same LUT.")


class SharpenParams(_Params):
    """Output sharpening (unsharp mask) of the delivered rendering."""
    amount: float = Field(0.0, ge=0, le=300, description="Strength, % of the detail added back.")
    radius: float = Field(1.0, ge=0.3, le=5, description="Gaussian radius in pixels.")


class OutputParams(_Params):
    colour_space: OutputSpace = Field(OutputSpace.SRGB, description="Colour space (and embedded ICC profile) of rendered files.")
    jpeg_quality: int = Field(92, ge=50, le=100, description="JPEG quality of rendered files.")


class Preset(_Params):
    name: str = Field(pattern=NAME_PATTERN, description=f"The preset's name: {NAME_RULE}; its file is NAME.toml.")
    version: int = Field(1, ge=1, description="Bump when the look changes, so reprints can tell.")
    format: int = Field(FORMAT_VERSION, ge=FORMAT_VERSION, le=FORMAT_VERSION, description="Preset format version (see presets/model.py).")
    description: str = Field("", max_length=500)
    decode: DecodeParams = DecodeParams()
    tone: ToneParams = ToneParams()
    curve: CurveParams = CurveParams()
    hsl: HslParams = HslParams()
    split_tone: SplitToneParams = SplitToneParams()
    vignette: VignetteParams = VignetteParams()
    lut: LutParams = LutParams()
    sharpen: SharpenParams = SharpenParams()
    output: OutputParams = OutputParams()

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Older formats (stored with orders, or old files) are upgraded, never refused."""
        if isinstance(data, dict) and data.get("format", 1) == 1:
            return upgrade_v1(data)
        return data

    def resolved_hash(self) -> str:
        """SHA-256 of the resolved values: two renders with the same hash are the same look."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def upgrade_v1(data: dict) -> dict:
    """Format 1 -> format 2. Every format-1 key keeps its meaning, so this only stamps the format;
    it is the one place a later change of meaning must convert values."""
    upgraded = copy.deepcopy(data)
    upgraded["format"] = 2
    return upgraded


class PresetError(Invalid):
    """A preset cannot be used; the message names the file, the key and what is allowed. It never quotes more of
    a file than a short excerpt (see :func:`excerpt`): the file may not be a preset at all."""


PRESET_KEYS_HINT = "check the spelling; `postline preset show neutral` lists every key"


def describe_error(err: dict, *, model: type[BaseModel] | None = None, unknown_hint: str = PRESET_KEYS_HINT) -> str:
    """One pydantic error of ``model`` (default: Preset) as a sentence naming the key and what is allowed."""
    return problems.describe_error(err, model=model or Preset, unknown_hint=unknown_hint)


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_TOML_POSITION = re.compile(r"^(?P<what>.*) \(at (?P<where>line \d+, column \d+|end of document)\)$", re.DOTALL)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetError(f"{path}: cannot read preset: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise PresetError(f"{path}: not a preset: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        # The parser's sentence may quote a key or a character of the file: only its position and a short,
        # escaped excerpt of the sentence are shown.
        found = _TOML_POSITION.match(str(exc))
        what, where = (found["what"], found["where"]) if found else (str(exc), "an unknown position")
        what = repr(what)[1:-1]
        what = what if len(what) <= 60 else what[:57] + "..."
        raise PresetError(f"{path}: not valid TOML at {where}: {what}") from None


def _merged_data(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """The file's values with everything it extends merged underneath (parents first)."""
    path = Path(path)
    if path.resolve() in seen:
        chain = " -> ".join(p.stem for p in (*seen, path.resolve()))
        raise PresetError(f"{path}: 'extends' goes round in a circle ({chain}); break the loop")
    data = _read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not re.fullmatch(NAME_PATTERN, parent):
        raise PresetError(f"{path}: 'extends' = {excerpt(parent)} must be the name of another preset in the same "
                          f"folder or the library ({NAME_RULE}); available: {', '.join(available_presets(path.parent))}")
    parent_path = path.parent / f"{parent}.toml"
    if not parent_path.is_file() and (PRESET_DIR / f"{parent}.toml").is_file():
        parent_path = PRESET_DIR / f"{parent}.toml"       # a draft outside the library extends a library preset
    if not parent_path.is_file():
        raise PresetError(f"{path}: 'extends' = {parent!r} but there is no {parent_path}; "
                          f"available: {', '.join(available_presets(path.parent))}; or of the library: "
                          f"{', '.join(available_presets())}")
    base = _merged_data(parent_path, (*seen, path.resolve()))
    for own in ("name", "version", "description"):
        base.pop(own, None)
    if data.get("format", 1) != base.get("format", 1):
        raise PresetError(f"{path}: format {data.get('format', 1)} extends {parent!r} of format "
                          f"{base.get('format', 1)}; upgrade both to format {FORMAT_VERSION}")
    return _deep_merge(base, data)


def set_dotted(data: dict, key: str, value: Any, source: str) -> None:
    """data["tone"]["exposure_ev"] = value for key "tone.exposure_ev" (sections made as needed)."""
    parts = key.split(".")
    if not all(parts):
        raise PresetError(f"{source}: override key {key!r} is not a dotted name like 'tone.exposure_ev'")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise PresetError(f"{source}: override {key!r}: '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def _with_lut_checksum(data: dict, source: Path | str) -> dict:
    lut = data.get("lut")
    if not isinstance(lut, dict) or not lut.get("file"):
        return data
    path = lut_path(lut["file"])
    if path.suffix.lower() != ".cube":        # not read at all: a preset from elsewhere may name any file
        raise PresetError(f"{source}: 'lut.file' = {lut['file']!r}: not a .cube file; postline applies 3D LUTs in "
                          f".cube files: put it in {LUT_DIR} and give its name")
    if not path.is_file():
        raise PresetError(f"{source}: 'lut.file' = {lut['file']!r}: no such file {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if lut.get("sha256") and lut["sha256"] != digest:
        raise PresetError(f"{source}: 'lut.sha256' does not match {path}: the LUT changed since the preset was saved")
    return {**data, "lut": {**lut, "sha256": digest}}


def lut_path(file: str) -> Path:
    """Where a preset's LUT lives: absolute paths as they are, names under presets/luts/."""
    path = Path(file)
    return path if path.is_absolute() else LUT_DIR / path


def _validate(data: dict, source: Path | str) -> Preset:
    try:
        return Preset.model_validate(_with_lut_checksum(data, source))
    except ValidationError as exc:
        raise PresetError(f"{source}: " + "; ".join(describe_error(e) for e in exc.errors())) from exc


def load_preset_file(path: Path, overrides: dict[str, Any] | None = None) -> Preset:
    """Load, merge what it extends, apply single-value overrides, validate."""
    data = _merged_data(Path(path))
    for key, value in (overrides or {}).items():
        set_dotted(data, key, value, str(path))
    return _validate(data, path)


def available_presets(folder: Path = PRESET_DIR) -> list[str]:
    """The names of the presets in the library ``folder`` (files NAME.toml whose NAME is a preset name)."""
    return sorted(p.stem for p in Path(folder).glob("*.toml") if re.fullmatch(NAME_PATTERN, p.stem))


def _preset_path(name: str, folder: Path) -> Path:
    """The library's file for preset ``name``. A name is only a name: anything else (a path, '..', a slash) is
    refused before the file system is asked, so no file outside ``folder`` is ever read."""
    available = ", ".join(available_presets(folder))
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise PresetError(f"{excerpt(name)} is not a preset name ({NAME_RULE}); a preset is chosen by its name "
                          f"in {folder}, not by a path. Available: {available}")
    path = Path(folder) / f"{name}.toml"
    if not path.is_file():
        raise PresetError(f"no preset named '{name}' in {folder}; available: {available}")
    return path


def resolve(name: str, overrides: dict[str, Any] | None = None, folder: Path = PRESET_DIR) -> Preset:
    """The preset ``name`` with the order's single-value overrides, e.g. {"tone.exposure_ev": 0.3}.
    Errors name the file, the key and the allowed range."""
    path = _preset_path(name, folder)
    preset = load_preset_file(path, overrides)
    if preset.name != name:
        raise PresetError(f"{path}: 'name' is {preset.name!r} but the file is {name}.toml; make them match")
    return preset


def load_preset(name: str, folder: Path = PRESET_DIR) -> Preset:
    return resolve(name, None, folder)


# The look each kind of shoot gets when the order names no preset.
DEFAULT_FOR_SHOOT = {"wedding": "bright-wedding", "portrait": "classic-portrait", "children": "warm-children"}
