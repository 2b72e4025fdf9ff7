"""Import Lightroom / Adobe Camera Raw develop presets (``.xmp``) into postline's TOML form.

Settings are read from the ``crs:`` namespace, as attributes of ``rdf:Description`` or as child
elements (tone curves are ``rdf:Seq`` lists of "x, y" in 0..255). What maps onto a preset value is
converted (Lightroom's -100..100 sliders keep their scale; curve points are divided by 255;
Temperature/Tint become Kelvin white balance); values outside postline's range are clamped and
said so; every other setting that would change the look is listed as unmapped."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from presets.model import FORMAT_VERSION, HSL_BANDS, Preset, PresetError, describe_error, set_dotted

CRS = "http://ns.adobe.com/camera-raw-settings/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

SCALARS = {  # crs name -> preset key (same scale)
    "Exposure2012": "tone.exposure_ev",
    "Contrast2012": "tone.contrast",
    "Highlights2012": "tone.highlights",
    "Shadows2012": "tone.shadows",
    "Whites2012": "tone.whites",
    "Blacks2012": "tone.blacks",
    "Vibrance": "tone.vibrance",
    "Saturation": "tone.saturation",
    "IncrementalTemperature": "tone.temperature",
    "IncrementalTint": "tone.tint",
    "SplitToningShadowHue": "split_tone.shadow_hue",
    "SplitToningShadowSaturation": "split_tone.shadow_saturation",
    "SplitToningHighlightHue": "split_tone.highlight_hue",
    "SplitToningHighlightSaturation": "split_tone.highlight_saturation",
    "SplitToningBalance": "split_tone.balance",
    "PostCropVignetteAmount": "vignette.amount",
    "PostCropVignetteMidpoint": "vignette.midpoint",
    "PostCropVignetteFeather": "vignette.feather",
    "Sharpness": "sharpen.amount",
    "SharpenRadius": "sharpen.radius",
}
for _band in HSL_BANDS:
    for _xmp, _ours in (("Hue", "hue"), ("Saturation", "saturation"), ("Luminance", "luminance")):
        SCALARS[f"{_xmp}Adjustment{_band.capitalize()}"] = f"hsl.{_band}.{_ours}"
# Colour grading (Lightroom 10+) keeps shadows and highlights in the SplitToning* settings above; some other
# tools write them under these names instead: taken when the SplitToning* one is absent.
COLOR_GRADE_ALIASES = {"ColorGradeShadowHue": "SplitToningShadowHue", "ColorGradeShadowSat": "SplitToningShadowSaturation",
                       "ColorGradeHighlightHue": "SplitToningHighlightHue",
                       "ColorGradeHighlightSat": "SplitToningHighlightSaturation",
                       "ColorGradeBalance": "SplitToningBalance"}
# Lightroom's own defaults of settings postline does not map (Adobe's schema; most other sliders default to
# 0): at these values they change nothing, so the report leaves them out.
LIGHTROOM_DEFAULTS = {"ColorGradeBlending": 50, "GrainSize": 25, "GrainFrequency": 50, "SharpenDetail": 25,
                      "ColorNoiseReduction": 25, "ColorNoiseReductionDetail": 50, "ColorNoiseReductionSmoothness": 50,
                      "LuminanceNoiseReductionDetail": 50, "ParametricShadowSplit": 25, "ParametricMidtoneSplit": 50,
                      "ParametricHighlightSplit": 75, "PerspectiveScale": 100, "PostCropVignetteStyle": 1}
CURVES = {"ToneCurvePV2012": "curve.master", "ToneCurvePV2012Red": "curve.red",
          "ToneCurvePV2012Green": "curve.green", "ToneCurvePV2012Blue": "curve.blue"}
WHITE_BALANCE = {"As Shot": "as_shot", "Auto": "auto"}
# Describe the preset file itself, not the look: never reported.
HOUSEKEEPING = {"Version", "ProcessVersion", "PresetType", "UUID", "Name", "ShortName", "SortName", "Group",
                "Description", "Copyright", "ContactInfo", "Cluster", "HasSettings", "HasCrop", "AlreadyApplied",
                "CameraModelRestriction", "RequiresRGBTables", "ToneCurveName2012", "ToneCurveName",
                "CameraProfile", "CameraProfileDigest", "Look", "WhiteBalance", "Temperature", "Tint",
                *(k for k in ("SupportsAmount", "SupportsColor", "SupportsMonochrome", "SupportsHighDynamicRange",
                              "SupportsNormalDynamicRange", "SupportsSceneReferred", "SupportsOutputReferred",
                              "SupportsAmount2"))}


@dataclass
class XmpImport:
    name: str
    data: dict                                          # the preset in TOML form
    mapped: list[str] = field(default_factory=list)     # "crs:X -> key = value"
    clamped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)   # "crs:X = value" that would change the look

    def report(self) -> str:
        return "\n".join(self.report_lines())

    def report_lines(self) -> list[str]:
        """The report, one line each (a value from the XMP may hold a line break: print each line escaped)."""
        lines = [f"Imported {len(self.mapped)} setting(s) into preset '{self.name}'."]
        if self.clamped:
            lines += ["Clamped to postline's range:"] + [f"  {c}" for c in self.clamped]
        if self.unmapped:
            lines += [f"Not mapped ({len(self.unmapped)}; the look will differ from Lightroom's by these):"]
            lines += [f"  {u}" for u in self.unmapped]
        else:
            lines.append("Every setting that changes the look was mapped.")
        return lines


def _settings(root: ET.Element) -> dict[str, Any]:
    """Every crs: setting in the document: str values, or lists for rdf:Seq / rdf:Alt children."""
    found: dict[str, Any] = {}
    prefix = "{" + CRS + "}"
    for element in root.iter():
        for key, value in element.attrib.items():
            if key.startswith(prefix):
                found[key[len(prefix):]] = value
        if element.tag.startswith(prefix):
            items = [li.text or "" for li in element.iter("{" + RDF + "}li")]
            found[element.tag[len(prefix):]] = items if items else (element.text or "").strip()
    return found


def _number(text: str) -> float:
    return float(str(text).strip().replace("+", ""))


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return (slug or "imported")[:80]


def _field(key: str) -> Any:
    model: Any = Preset
    info = None
    for part in key.split("."):
        info = model.model_fields[part]
        model = info.annotation
    return info


def _bounds(key: str) -> tuple[float | None, float | None]:
    info = _field(key)
    lo = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
    hi = next((m.le for m in info.metadata if getattr(m, "le", None) is not None), None)
    return lo, hi


def import_xmp(path: Path, name: str | None = None) -> XmpImport:
    """Read a Lightroom/ACR develop preset; the result validates as a postline preset."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise PresetError(f"{path}: not a readable XMP file ({exc})") from exc
    settings = _settings(root)
    if not settings:
        raise PresetError(f"{path}: no Camera Raw (crs:) settings found: not a Lightroom/ACR develop preset")
    title = settings.get("Name")
    title = title[0] if isinstance(title, list) and title else title
    result = XmpImport(name=name or _slug(title or path.stem), data={})
    data = result.data
    data.update(name=result.name, version=1, format=FORMAT_VERSION,
                description=f"Imported from {path.name}" + (f" ({title})" if title else ""))

    def put(crs: str, key: str, value: Any) -> None:
        lo, hi = _bounds(key) if not key.startswith("curve.") and key != "decode.white_balance" else (None, None)
        if isinstance(value, float):
            clamped = min(max(value, lo if lo is not None else value), hi if hi is not None else value)
            if clamped != value:
                result.clamped.append(f"crs:{crs} = {value:g} -> {key} = {clamped:g} (allowed {lo:g}..{hi:g})")
            value = clamped
        set_dotted(data, key, value, str(path))
        result.mapped.append(f"crs:{crs} -> {key} = {value}")

    balance = settings.get("WhiteBalance")
    if balance in WHITE_BALANCE:
        put("WhiteBalance", "decode.white_balance", WHITE_BALANCE[balance])
    elif "Temperature" in settings:
        put("WhiteBalance", "decode.white_balance", "kelvin")
        put("Temperature", "decode.kelvin", _number(settings["Temperature"]))
        if "Tint" in settings:
            put("Tint", "decode.tint", _number(settings["Tint"]))
    for crs, value in settings.items():
        name = crs
        if crs in COLOR_GRADE_ALIASES:
            legacy = COLOR_GRADE_ALIASES[crs]
            if legacy not in settings:
                name = legacy                     # the same slider under its other name
            elif _number(settings[legacy]) == _number(value):
                continue                          # Lightroom writes both: mapped once, under SplitToning*
            else:
                shown = value if isinstance(value, str) else ", ".join(value)
                result.unmapped.append(f"crs:{crs} = {shown} (crs:{legacy} = {settings[legacy]} was used)")
                continue
        if name in SCALARS:
            if _number(value) != _field(SCALARS[name]).default:   # a slider at its default changes nothing
                put(crs, SCALARS[name], _number(value))
        elif crs in CURVES:
            points = [tuple(_number(v) / 255.0 for v in item.split(",")) for item in value if item.strip()]
            if points and points != [(0.0, 0.0), (1.0, 1.0)]:
                put(crs, CURVES[crs], [[round(x, 4), round(y, 4)] for x, y in points])
        elif crs not in HOUSEKEEPING:
            shown = value if isinstance(value, str) else ", ".join(value)
            try:
                if _number(shown) == LIGHTROOM_DEFAULTS.get(crs, 0):
                    continue                  # a slider at Lightroom's default (most: zero) changes nothing
            except ValueError:
                if shown.strip().lower() in ("", "false"):
                    continue
            result.unmapped.append(f"crs:{crs} = {shown}")
    try:
        Preset.model_validate(data)
    except ValidationError as exc:
        detail = "; ".join(describe_error(e) for e in exc.errors())
        raise PresetError(f"{path}: the imported values are not a valid preset: {detail}") from exc
    return result


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        raise ValueError("TOML has no null")
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(data: dict, *, skip_none: bool = True) -> str:
    """A preset mapping as TOML text: top-level values, then one [section] per table."""
    lines: list[str] = []

    def emit(table: dict, prefix: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not (skip_none and v is None)}
        tables = {k: v for k, v in table.items() if isinstance(v, dict)}
        if prefix and scalars:
            lines.append(f"\n[{prefix}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        for key, sub in tables.items():
            emit(sub, f"{prefix}.{key}" if prefix else key)

    emit(data, "")
    return "\n".join(lines).lstrip("\n") + "\n"
