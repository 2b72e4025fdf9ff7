"""Delivery recipes: what a client receives, as data (``config/recipes/<name>.toml``, validated when loaded).

A recipe lists renditions (full-size JPEG, web and social sizes, a print TIFF, watermarked proofs, ...), each
with its size, crop, format, quality, colour space (its ICC profile embedded), output sharpening, watermark,
file-name template and the ZIP (rendition set) it goes in; the metadata every delivered file carries; the album
PDF's resolution and the contact sheet's grid. Each shoot type has one (``wedding.toml``, ``portrait.toml``,
``children.toml``); an order may be given another (`postline deliver N --recipe NAME|FILE`). Unknown keys and
out-of-range values are errors that name the file, the key and the allowed range.

Like a preset (presets/model.py), a recipe is plain data validated by its model here: the pixel code that carries it out is
tasks/pixels/renditions.py, the package tasks/package.py."""

from __future__ import annotations

import hashlib
import re
import string
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config.errors import Invalid
from presets.model import OutputSpace, describe_error

RECIPES_DIR = Path(__file__).parents[1] / "config" / "recipes"   # the studio's recipes, beside its line file
KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,30}$"
NAME_FIELDS = {"client": "Anna_Ben", "order": 7, "seq": 12, "original": "DSC_0012", "rendition": "web",
               "studio": "Studio", "revision": 0}
RECIPE_KEYS_HINT = "check the spelling; config/recipes/README.md lists every key"


class FileFormat(StrEnum):
    JPEG = "jpeg"
    TIFF = "tiff"


class Aspect(StrEnum):
    """The frame of a rendition: the photo's own, or a crop to a social format."""
    ORIGINAL = "original"
    SQUARE = "1:1"
    PORTRAIT = "4:5"
    LANDSCAPE = "16:9"

    @property
    def ratio(self) -> float | None:
        """Width over height of the crop; None for the photo's own frame."""
        if self is Aspect.ORIGINAL:
            return None
        w, h = self.value.split(":")
        return int(w) / int(h)


class Anchor(StrEnum):
    """Where a crop sits in the photo: its middle, its faces (middle when none is found), or an edge."""
    CENTRE = "centre"
    FACES = "faces"
    TOP = "top"
    BOTTOM = "bottom"
    LEFT = "left"
    RIGHT = "right"


class Placement(StrEnum):
    CENTRE = "centre"
    BOTTOM_RIGHT = "bottom_right"


class Filter(StrEnum):
    """Which colours come out lighter in black and white, as a filter on the lens does with black-and-white film."""
    NONE = "none"          # the photo's own brightness
    YELLOW = "yellow"      # skies a little darker, skin a little lighter
    ORANGE = "orange"      # skies darker, skin lighter and smoother
    RED = "red"            # dark, dramatic skies; pale skin
    GREEN = "green"        # foliage lighter, skin and lips darker


class Toning(StrEnum):
    """A tint in the mid-tones of a black-and-white photo (black and white stay neutral)."""
    NEUTRAL = "neutral"
    WARM = "warm"
    COOL = "cool"


def _template(template: str, known: dict[str, object]) -> str:
    """``template`` if it names only ``known`` fields and formats with them; else a ValueError saying why."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"not a template ({exc}); write fields as {{seq:04d}}") from None
    unknown = sorted(f for f in fields if f not in known)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; known: {sorted(known)}")
    try:
        template.format(**known)
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"the template does not format ({exc})") from None
    return template


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Watermark(_Data):
    text: str = Field("{studio}", min_length=1, max_length=120, description=(
        "Text drawn on the photo; {studio}, {client} and {order} are filled in."))
    opacity: float = Field(0.35, ge=0.05, le=1.0, description="0.05 faint .. 1 solid white.")
    size: float = Field(0.06, ge=0.01, le=0.5, description="Text height as a share of the photo's short edge.")
    position: Placement = Field(Placement.CENTRE, description="centre, or bottom_right.")

    @field_validator("text")
    @classmethod
    def _known_fields(cls, text: str) -> str:
        return _template(text, {"studio": "Studio", "client": "Anna & Ben", "order": 7})


class Rendition(_Data):
    key: str = Field(pattern=KEY_PATTERN, description="Its id: the folder in its ZIP, and the manifest's rendition.")
    title: str = Field("", max_length=60, description="What the studio calls it.")
    set: str | None = Field(None, pattern=KEY_PATTERN, description=(
        "The rendition set (ZIP) it goes in, e.g. 'client' for full and web together; default: its key."))
    format: FileFormat = Field(FileFormat.JPEG, description="jpeg, or tiff (print).")
    long_edge: int | None = Field(None, ge=64, le=30000, description=(
        "Long edge in pixels; none: the photo's own size. Never enlarged."))
    aspect: Aspect = Field(Aspect.ORIGINAL, description="original, or a crop: 1:1, 4:5 (4 wide, 5 high), 16:9.")
    anchor: Anchor = Field(Anchor.CENTRE, description="Where a crop sits: centre, faces, top, bottom, left, right.")
    quality: int = Field(92, ge=50, le=100, description="JPEG quality (4:4:4 chroma from 95 up, 4:2:0 below).")
    bit_depth: Literal[8, 16] = Field(8, description="TIFF only: 8 or 16 bits per channel (JPEG is always 8).")
    tiff_compression: Literal["none", "lzw", "deflate"] = Field("none", description=(
        "TIFF only: none, lzw or deflate (lossless, with the horizontal predictor: about half the size at 8 bits, "
        "and every print lab and Photoshop reads LZW; at 16 bits deflate saves a fifth, LZW nothing)."))
    colour_space: OutputSpace | Literal["preset"] = Field(OutputSpace.SRGB, description=(
        "srgb, adobe_rgb, display_p3 (the ICC profile is embedded), or preset: the order preset's output space."))
    dpi: int = Field(300, ge=72, le=1200, description="Resolution written in the file (print size = pixels / dpi).")
    sharpen: float = Field(0.0, ge=0, le=300, description="Output sharpening at the output size, % (0: none).")
    sharpen_radius: float = Field(0.8, ge=0.3, le=3.0, description="Radius of the output sharpening, pixels.")
    watermark: Watermark | None = Field(None, description="Text over the photo (proofs); none: clean.")
    black_and_white: bool = Field(False, description=(
        "In black and white, for every photo, as the recipe's [black_and_white] says (filter, contrast, toning)."))
    name: str = Field("{client}-{order}-{seq:04d}", min_length=1, max_length=120, description=(
        "File name without extension: {client}, {order}, {seq} (1.. in shooting order), {original} (the card "
        "file's name without extension), {rendition}, {studio}, {revision}; format specs allowed ({seq:04d})."))

    @property
    def zip_set(self) -> str:
        return self.set or self.key

    @property
    def extension(self) -> str:
        return ".jpg" if self.format is FileFormat.JPEG else ".tif"

    @field_validator("name")
    @classmethod
    def _known_fields(cls, template: str) -> str:
        return _template(template, NAME_FIELDS)

    @model_validator(mode="after")
    def _consistent(self) -> "Rendition":
        if self.format is FileFormat.JPEG and self.bit_depth != 8:
            raise ValueError(f"rendition {self.key!r}: a JPEG has 8 bits per channel; use format = \"tiff\" for 16")
        return self


class MetadataPolicy(_Data):
    """What of the original's metadata a delivered file keeps (capture time, camera, lens and exposure always),
    and what the studio writes (always: copyright, artist, studio contact)."""
    keep_gps: bool = Field(False, description="Keep the original's GPS position (default: stripped).")
    keep_serials: bool = Field(False, description="Keep camera and lens serial numbers (default: stripped).")
    client_name: bool = Field(True, description="Write the client's name (EXIF ImageDescription, IPTC Caption, "
                                                "XMP plus:Licensee and dc:description).")


class AlbumPrint(_Data):
    dpi: int = Field(300, ge=72, le=600, description="Resolution of album.pdf's spreads (600 x 300 mm + bleed).")
    quality: int = Field(95, ge=50, le=100, description="JPEG quality of the spreads inside the PDF.")


class ContactSheet(_Data):
    columns: int = Field(5, ge=2, le=12, description="Thumbnails across a page.")
    rows: int = Field(4, ge=1, le=12, description="Thumbnails down a page.")
    dpi: int = Field(150, ge=72, le=600, description="Resolution of the A4 landscape pages.")


class BlackAndWhite(_Data):
    """The photos the client asks for in black and white (the gallery's tick, or `postline order bw`) get these
    renditions a second time, in black and white: ``full`` gives ``full-bw``, in the same ZIP, its files named as
    ``full``'s with ``-bw`` at the end. And how black and white is made, for those and for any rendition with
    ``black_and_white = true``."""
    renditions: tuple[str, ...] = Field((), max_length=20, description=(
        "The keys of the renditions a photo asked for in black and white also gets in black and white; none: the "
        "gallery offers no black and white."))
    filter: Filter = Field(Filter.NONE, description=(
        "none, yellow, orange, red or green: which colours come out lighter, as a filter does on film."))
    contrast: float = Field(15.0, ge=0, le=100, description=(
        "Extra contrast, % (an S-curve through mid grey; black and white stay where they are)."))
    toning: Toning = Field(Toning.NEUTRAL, description="neutral, warm or cool: a tint in the mid-tones.")
    toning_strength: float = Field(0.5, ge=0, le=1, description="How strong the toning is, 0 .. 1.")


BW_SUFFIX = "-bw"


def _twin_name(name: str) -> str:
    """A black-and-white twin's file name: its colour file's with ``-bw`` at the end, unless the name gives the
    rendition's key (``{rendition}``), which is the twin's own (``full-bw``) already."""
    return name if "{rendition" in name else name + BW_SUFFIX


class Recipe(_Data):
    name: str = Field(pattern=KEY_PATTERN, description="The recipe's name (its file's stem).")
    version: int = Field(1, ge=1, description="Bump when the studio changes what the recipe delivers.")
    description: str = Field("", max_length=300)
    renditions: tuple[Rendition, ...] = Field(min_length=1, max_length=20)
    metadata: MetadataPolicy = MetadataPolicy()
    album: AlbumPrint = AlbumPrint()
    contact_sheet: ContactSheet = ContactSheet()
    black_and_white: BlackAndWhite = BlackAndWhite()

    @model_validator(mode="after")
    def _unique_keys(self) -> "Recipe":
        keys = [r.key for r in self.renditions]
        doubled = sorted({k for k in keys if keys.count(k) > 1})
        if doubled:
            raise ValueError(f"rendition keys must be unique; twice: {doubled}")
        by_key = {r.key: r for r in self.renditions}
        asked = list(self.black_and_white.renditions)
        unknown = [k for k in asked if k not in by_key]
        if unknown:
            raise ValueError(f"black_and_white.renditions names {unknown}, not renditions of this recipe; its "
                             f"renditions: {keys}")
        if len(set(asked)) != len(asked):
            raise ValueError(f"black_and_white.renditions names a rendition twice: {asked}")
        already = [k for k in asked if by_key[k].black_and_white]
        if already:
            raise ValueError(f"black_and_white.renditions names {already}, which every photo gets in black and "
                             "white already (black_and_white = true)")
        for key in asked:
            twin = key + BW_SUFFIX
            if twin in by_key:
                raise ValueError(f"black_and_white.renditions: {key!r}'s black-and-white twin would be {twin!r}, "
                                 "a rendition of this recipe already; rename that one")
            if not re.match(KEY_PATTERN, twin):
                raise ValueError(f"black_and_white.renditions: {key!r} is too long for a twin key ({twin!r}: at most "
                                 "31 characters)")
        return self

    @property
    def twins(self) -> tuple[Rendition, ...]:
        """The black-and-white twins of the renditions ``[black_and_white]`` names, in its order."""
        by_key = {r.key: r for r in self.renditions}
        return tuple(by_key[key].model_copy(update={
            "key": key + BW_SUFFIX, "title": (by_key[key].title or key)[:44] + " (black and white)",
            "set": by_key[key].zip_set, "black_and_white": True, "name": _twin_name(by_key[key].name)})
            for key in self.black_and_white.renditions)

    def for_photo(self, black_and_white: bool) -> tuple[Rendition, ...]:
        """The renditions one photo is delivered in: the recipe's, and their twins when it is asked for in black and
        white."""
        return self.renditions + self.twins if black_and_white else self.renditions

    @property
    def offers_black_and_white(self) -> bool:
        """Whether a photo can be asked for in black and white (the gallery's tick)."""
        return bool(self.black_and_white.renditions)

    @property
    def makes_black_and_white(self) -> bool:
        """Whether every photo gets some rendition in black and white."""
        return any(r.black_and_white for r in self.renditions)

    @property
    def sets(self) -> dict[str, list[Rendition]]:
        """Rendition set -> its renditions, in recipe order: one ZIP each."""
        out: dict[str, list[Rendition]] = {}
        for r in self.renditions:
            out.setdefault(r.zip_set, []).append(r)
        return out

    def digest(self, *, black_and_white: bool = True) -> str:
        """The recipe's values, hashed. ``black_and_white=False``: without how black and white is made, for a photo
        that has no black-and-white rendition (a change there makes none of its files again). A recipe that
        says nothing of black and white hashes as it did before postline knew of it."""
        plain = [i for i, r in enumerate(self.renditions) if not r.black_and_white]
        exclude: dict = {"renditions": {i: {"black_and_white"} for i in plain}} if plain else {}
        if not black_and_white or self.black_and_white == BlackAndWhite():
            exclude["black_and_white"] = True
        return hashlib.sha256(self.model_dump_json(exclude=exclude or None).encode()).hexdigest()


class RecipeError(Invalid):
    """A recipe cannot be used; the message names the file, the key and what is allowed."""


def recipes_dir() -> Path:
    from config.settings import get_settings

    return get_settings().recipes_dir or RECIPES_DIR


def available() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.toml"))


def load_recipe_file(path: Path) -> Recipe:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not a recipe: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML: {repr(str(exc))[1:-1][:80]}") from None
    data.setdefault("name", path.stem)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        raise RecipeError(f"{path}: {problems}") from None


def _describe(err: dict) -> str:
    """A pydantic error as a sentence naming the key (renditions[2].quality) and the allowed range."""
    loc = err["loc"]
    where = []
    for part in loc:
        if isinstance(part, int):
            where[-1:] = [f"{where[-1]}[{part}]"] if where else [f"[{part}]"]
        else:
            where.append(str(part))
    key = ".".join(where)
    if err["type"] == "value_error":
        return f"'{key}': {err['msg'].removeprefix('Value error, ')}" if key else err["msg"].removeprefix(
            "Value error, ")
    model: type[BaseModel] = Recipe
    if "renditions" in loc:
        model = Rendition
        err = {**err, "loc": tuple(p for p in loc[loc.index("renditions") + 2:] if isinstance(p, str))}
    sentence = describe_error(err, model=model, unknown_hint=RECIPE_KEYS_HINT)
    return sentence.replace(f"'{'.'.join(str(p) for p in err['loc'])}'", f"'{key}'", 1)


def load_recipe(name_or_file: str) -> Recipe:
    """A recipe by name (``config/recipes/NAME.toml``, or POSTLINE_RECIPES_DIR's) or by file path."""
    path = Path(name_or_file)
    if path.suffix == ".toml" or "/" in name_or_file:
        return load_recipe_file(path)
    if not re.match(KEY_PATTERN, name_or_file):
        raise RecipeError(f"{name_or_file!r} is not a recipe name; recipes: {', '.join(available())}")
    path = recipes_dir() / f"{name_or_file}.toml"
    if not path.is_file():
        raise RecipeError(f"no recipe {name_or_file!r} in {recipes_dir()}; recipes: {', '.join(available())}")
    return load_recipe_file(path)
