"""The line definition: ordered stages and the QC gate, read from ``config/line.toml``
(or the file named by ``POSTLINE_LINE_FILE``). A studio changes its line here, not in code."""

from __future__ import annotations

import os
import time
import tomllib
from enum import StrEnum
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from config.errors import Invalid
from config.problems import describe_error
from config.settings import SETTINGS_FILE

DEFAULT_LINE_FILE = Path(__file__).with_name("line.toml")
LINE_KEYS_HINT = "check the spelling; config/line.toml's comments list every key"
SKILL_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"   # stage keys follow it too: a stage key is a skill by default


class StageMode(StrEnum):
    AUTOMATIC = "automatic"  # postline does the stage's work
    MANUAL = "manual"        # a retoucher pulls each photo from the stage's queue and hands it back
    ASSISTED = "assisted"    # postline prepares the photo with the stage's operation, a retoucher finishes it


class Operation(StrEnum):
    GRADE = "grade"    # RAW decode + the order's preset -> working TIFF + proof
    SKIN = "skin"      # skin smoothing on detected faces' skin only (texture kept); no face, no change
    SKIN_TONES = "skin_tones"  # skin smoothing on every skin-coloured pixel, faces or not
    BLEMISH = "blemish"        # small dark/red spots on faces' skin filled in (inpainting)
    DETAIL = "detail"  # local contrast on luminance
    DODGE_BURN = "dodge_burn"  # lift shadows and hold highlights locally, on luminance
    FINISH = "finish"  # output sharpening


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="Stable id, used in the production record.")
    title: str = Field(max_length=60, description="What people call the stage.")
    mode: StageMode = StageMode.AUTOMATIC
    operation: Operation | None = Field(None, description="Automatic operation (required unless manual).")
    skills: tuple[Annotated[str, Field(pattern=SKILL_PATTERN)], ...] = Field((), description=(
        "Skills a retoucher needs, every one of them, to pull from this stage (e.g. [\"liquify\", \"skin\"]); "
        "default: the stage's key."))
    wip_limit: int | None = Field(None, ge=1, description="Most photos claimed at once in this stage.")
    allow_crop: bool = Field(False, description="May a retoucher hand back other pixel dimensions?")
    album: bool = Field(False, description=(
        "This stage makes the order's album: the delivery gets album spreads (album/*.jpg), the finished "
        "photos laid out from templates (tasks/pixels/layout_templates.toml). Usually on Design & layout."))
    params: dict[str, JsonValue] = Field(default_factory=dict, description=(
        "The operation's parameters (`[stages.params]`, e.g. strength = 0.4 for skin), each key of the "
        "operation's params model in tasks/pixels/ with its bounds; unset keys keep their defaults. Checked and "
        "upgraded to the operation's current version when the line file is loaded (check_params)."))

    @model_validator(mode="after")
    def _operation_needed(self) -> "StageSpec":
        if self.mode is not StageMode.MANUAL and self.operation is None:
            raise ValueError(f"stage {self.key!r} is {self.mode.value}: give it an operation")
        if self.params and self.operation is None:
            raise ValueError(f"stage {self.key!r} has params but no operation for them; remove [stages.params]")
        if self.params and self.operation is Operation.GRADE:
            raise ValueError(f"stage {self.key!r}: grading takes its values from the order's preset, not from "
                             "[stages.params]; remove them and set the look in the preset (presets/*.toml)")
        return self

    @property
    def needs_people(self) -> bool:
        return self.mode is not StageMode.AUTOMATIC

    @property
    def required_skills(self) -> tuple[str, ...]:
        return self.skills or (self.key,)


class QcGateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_clipped_share: float = Field(0.10, gt=0, le=1, description="Largest share of clipped pixels that passes.")
    min_mean_luma: float = Field(0.03, ge=0, le=1, description="Darker on average than this is 'all black'.")
    max_mean_luma: float = Field(0.97, ge=0, le=1, description="Brighter on average than this is 'all white'.")
    human_review: bool = Field(False, description="After the automatic checks, a QC lead approves or rejects.")
    min_sharpness_ratio: float = Field(0.6, ge=0, le=1, description=(
        "Sharpness (variance of the Laplacian of luma) of the photo over that of the version before it; "
        "below this the stage that made it lost sharpness."))
    min_skin_texture_ratio: float = Field(0.5, ge=0, le=1, description=(
        "Fine texture (pores) left on detected faces' skin, as a share of the version before; below this "
        "the skin was over-smoothed."))
    max_colour_cast: float = Field(14.0, gt=0, le=50, description=(
        "Largest distance (CIELAB a*b* units) from neutral of the greys' mean colour that passes, after taking "
        "out the tint the order's preset gives greys on purpose. 14 sends back a gross white-balance error; "
        "well-balanced real frames with warm rooms in them measure up to about 12."))
    neutral_chroma: float = Field(15.0, gt=0, le=50, description=(
        "Colour-cast check: how near-neutral a pixel must be to count, as CIELAB chroma; a pixel of this "
        "chroma counts 0.61 as much as a grey one, one of twice it 0.14 (Gaussian weight)."))
    min_neutral_share: float = Field(0.03, gt=0, le=1, description=(
        "Weighted share of near-neutral mid-tone pixels a photo needs for the colour-cast check to judge it."))
    max_aspect_error: float = Field(0.01, ge=0, le=0.5, description=(
        "Relative difference of aspect ratio from the original that passes where a crop is allowed."))
    require_icc: bool = Field(True, description="A working file must carry an sRGB ICC profile.")
    # The look check compares each photo with its graded reference: the preset's look alone (no session
    # calibration, no retouch), rendered small at grading time. The margins measured for these bounds are written
    # beside qc.checks.check_look.
    min_look_chroma_ratio: float = Field(0.65, ge=0, le=1, description=(
        "Lowest mean CIELAB chroma of the photo over its graded reference's that passes: below it the colours "
        "collapsed (a wrong session calibration greys every photo). Real calibrations and retouch: 0.96 and up."))
    max_look_chroma_ratio: float = Field(1.8, ge=1, le=10, description=(
        "Highest mean chroma of the photo over its graded reference's that passes. Real calibrations: up to 1.31."))
    max_look_ab_shift: float = Field(15.0, gt=0, le=100, description=(
        "Largest distance (CIELAB a*b* units) between the mean colour of the photo and of its graded reference: "
        "a shift of the whole palette. A real calibration that takes out a 3500 K light's cast: 7.4."))
    max_look_hue_shift: float = Field(35.0, gt=0, le=180, description=(
        "Largest mean hue change (degrees, weighted by chroma) of the coloured pixels against the graded "
        "reference. Real calibrations: up to 18; swapped channels: 96 and more."))
    max_look_lightness_shift: float = Field(15.0, gt=0, le=100, description=(
        "Largest change of mean lightness (CIELAB L*) against the graded reference (the reference carries a rework's "
        "exposure rescue). Real calibrations: up to 6.9, automatic retouch up to 3.9."))
    min_look_contrast_ratio: float = Field(0.6, ge=0, le=1, description=(
        "Lowest standard deviation of L* of the photo over its graded reference's (tone flattened). Automatic "
        "retouch (dodge & burn) down to 0.79."))
    max_look_contrast_ratio: float = Field(1.8, ge=1, le=10, description=(
        "Highest standard deviation of L* of the photo over its graded reference's. Automatic retouch up to 1.39."))


class ReviewGateSpec(BaseModel):
    """The senior photographer's review of the originals, after ingest and before any stage."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = Field(False, description="Wait for the senior photographer to approve or cull the originals.")


class CullSpec(BaseModel):
    """What the cull's signals (measured on every photo at ingest: tasks/pixels/cull.py) suggest: the reasons a
    frame is suggested for culling (qc/cull.py). A suggestion pre-fills the review of the originals and
    `postline cull`; nothing is culled without a person's decision. Measured values quoted below are those of
    the real camera samples (tests/test_cull_pixels.py)."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_blur: float = Field(0.6, gt=0, le=1, description=(
        "Blur where the subject is (0 sharp .. 1; the worst of four directions, on the largest face or the "
        "sharpest region) from which a frame is suggested as `blurred`. Sharp real frames: 0.21-0.54 (flat colour "
        "charts the highest); blurred by a 3 px Gaussian: 0.69-0.87."))
    max_motion: float = Field(0.2, gt=0, le=1, description=(
        "Spread of the blur over the four directions from which a frame is suggested as `blurred` (a smear along "
        "one direction: camera shake, a moving subject). Sharp real frames: 0.02-0.17; smeared 9 px: 0.21-0.41."))
    max_highlights: float = Field(0.15, gt=0, le=1, description=(
        "Share of pixels with a clipped channel from which a frame is suggested as `overexposed`."))
    max_shadows: float = Field(0.5, gt=0, le=1, description=(
        "Share of pixels with blocked shadows (luma at the very bottom) from which a frame is `underexposed`."))
    min_median_luma: float = Field(0.15, ge=0, lt=1, description=(
        "Median luma (display-encoded) below which a frame is suggested as `underexposed`. Real frames exposed "
        "right: 0.33-0.60; three and a half stops under: 0.09-0.18."))
    burst_seconds: float = Field(2.0, ge=0, le=60, description=(
        "Frames taken at most this many seconds apart (camera clock) with near hashes are one burst."))
    burst_hash_distance: int = Field(12, ge=0, le=32, description=(
        "Largest perceptual-hash distance (bits of 64) of two frames of one burst. A 3% shift: 4-14; unrelated "
        "frames: 24 and more."))
    duplicate_hash_distance: int = Field(6, ge=0, le=32, description=(
        "Largest hash distance of near-identical frames, whenever they were taken: the frame that is not the "
        "group's best is suggested as `duplicate` (else as `burst_not_best`). A 1% shift or half a stop: 0-4."))
    eyes_closed: bool = Field(True, description=(
        "Suggest `eyes_closed` (only on a clear reading, or on eyes not found when the same burst shows them "
        "open in another frame: tasks/pixels/eyes.py)."))
    ratings: bool = Field(True, description=(
        "Pre-fill the review of the originals with the photographer's own ratings (stars, rejects, colour labels, "
        "Photo Mechanic's tag), read at ingest from each frame's XMP sidecar on the card or from the file "
        "(Lightroom, Photo Mechanic, Capture One, darktable, the camera): a frame the photographer rejected is "
        "culled, a frame they picked is kept whatever the suggestion. false: they are shown, and only the "
        "suggestion pre-fills."))
    pick_stars: int = Field(1, ge=1, le=5, description="Stars from which a frame counts as picked.")
    pick_labels: tuple[Annotated[str, Field(min_length=1, max_length=40)], ...] = Field((), description=(
        "Colour labels that count as a pick (case ignored), e.g. [\"Green\", \"Winner\"]. Photo Mechanic's tag "
        "always does."))
    reject_labels: tuple[Annotated[str, Field(min_length=1, max_length=40)], ...] = Field((), description=(
        "Colour labels that count as a reject, e.g. [\"Red\", \"Trash\"]. The reject flag (rating -1) always "
        "does."))
    unpicked: Literal["suggestion", "cull"] = Field("suggestion", description=(
        "Frames the photographer neither picked nor rejected, in an order where they picked some: `suggestion` "
        "leaves them to the cull's suggestion; `cull` pre-fills them as culled (`not_picked`), for a "
        "photographer who picks the keepers."))


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stages: tuple[StageSpec, ...] = Field(min_length=1)
    qc_gate: QcGateSpec = QcGateSpec()
    review_gate: ReviewGateSpec = ReviewGateSpec()
    cull: CullSpec = CullSpec()

    @model_validator(mode="after")
    def _checks(self) -> "Line":
        keys = [s.key for s in self.stages]
        if len(set(keys)) != len(keys):
            raise ValueError(f"stage keys must be unique, got {keys}")
        first = self.first
        if first.operation is not Operation.GRADE or first.mode is StageMode.MANUAL:
            raise ValueError("the first stage must run operation 'grade', automatic or assisted "
                             "(it turns the RAW into the working file)")
        return self

    def stage(self, key: str) -> StageSpec:
        for spec in self.stages:
            if spec.key == key:
                return spec
        raise KeyError(f"no stage {key!r} in the line; stages are {[s.key for s in self.stages]}")

    def required_skills(self, key: str) -> tuple[str, ...]:
        """The skills a person needs for stage ``key``; a stage no longer in the line (its items stay in the
        record) needs its key, as by default."""
        for spec in self.stages:
            if spec.key == key:
                return spec.required_skills
        return (key,)

    @property
    def makes_album(self) -> bool:
        """Whether a stage of the line makes the order's album spreads."""
        return any(spec.album for spec in self.stages)

    @property
    def known_skills(self) -> list[str]:
        """Every skill some stage of the line needs, in stage order: what a person's skills may name."""
        return list(dict.fromkeys(skill for spec in self.stages for skill in spec.required_skills))

    @property
    def skills_are_keys(self) -> bool:
        """Whether every stage needs just its own key (the default): then a person's skills are stage keys."""
        return all(spec.required_skills == (spec.key,) for spec in self.stages)

    def stages_for_skills(self, skills: Sequence[str], stages: Sequence[str] | None = None) -> list[str]:
        """Of ``stages`` (default: the line's stages, then any of ``skills`` naming a stage not in the line),
        those whose every required skill is among ``skills``."""
        held = set(skills)
        if stages is None:
            keys = [spec.key for spec in self.stages]
            named = set(keys) | set(self.known_skills)
            stages = keys + [s for s in skills if s not in named]
        return [key for key in stages if held.issuperset(self.required_skills(key))]

    def reaches_people(self, key: str) -> bool:
        """Whether people work stage ``key`` or a stage after it: a photo sent back there (by QC or a client's
        change) meets a person, who reads its note."""
        keys = [spec.key for spec in self.stages]
        return any(spec.needs_people for spec in self.stages[keys.index(key):])

    def remade_alike(self, key: str) -> bool:
        """Whether a photo sent back to stage ``key`` comes back as it went: every stage from there on is automatic
        and works a rework round as it did the first (the order's line is fixed while it runs). Not the first
        stage: grading a rework round rescues the exposure QC found wrong (tasks/operations.rescued)."""
        return key != self.first.key and not self.reaches_people(key)

    @property
    def change_stage(self) -> str | None:
        """The stage a client's change request sends a delivered photo back to: the first retouch stage, when a
        stage people work (manual or assisted) comes at or after it, where the client's note reaches a person
        (an assisted grading stage, when that is the only one people work). None when people work no stage: the
        automatic stages would make the photo again as it was, and the note would reach nobody."""
        if len(self.stages) > 1 and self.reaches_people(self.stages[1].key):
            return self.stages[1].key
        return self.first.key if self.first.needs_people else None

    @property
    def first(self) -> StageSpec:
        """The stage every photo enters the line at (it grades the RAW)."""
        return self.stages[0]

    @property
    def last(self) -> StageSpec:
        """The stage that makes the file QC checks and delivery packs."""
        return self.stages[-1]

    def next_after(self, key: str) -> StageSpec | None:
        """The stage after ``key``; None after the last one."""
        keys = [s.key for s in self.stages]
        index = keys.index(key)
        return self.stages[index + 1] if index + 1 < len(keys) else None

    def segment(self, key: str, *, client_selection: bool = False) -> tuple[StageSpec, ...]:
        """The automatic stages in a row around stage ``key`` (automatic itself): they run fused, one pass per
        photo (tasks/stages.py). A manual or assisted stage is never in one. With ``client_selection`` (the
        order's client picks favourites after grading: record/selection.py) the first stage ends its run: the
        photo stops there, its graded master written, and only favourites go on to the next."""
        keys = [s.key for s in self.stages]
        start = end = keys.index(key)
        if self.stages[start].needs_people:
            raise ValueError(f"stage {key!r} is {self.stages[start].mode.value}: it is in no automatic segment")

        def joined(i: int) -> bool:      # stage i joins the run of stage i - 1
            return not (client_selection and i == 1)

        while start > 0 and not self.stages[start - 1].needs_people and joined(start):
            start -= 1
        while end + 1 < len(keys) and not self.stages[end + 1].needs_people and joined(end + 1):
            end += 1
        return self.stages[start:end + 1]

    def changes_to(self, other: "Line") -> list[str]:
        """What moving from this line to ``other`` changes, one sentence each: stages added, removed or
        changed (mode, operation, limits...), the stage order, the gates."""
        mine, theirs = {s.key: s for s in self.stages}, {s.key: s for s in other.stages}
        changes = [f"stage added: {key} ({theirs[key].title})" for key in theirs if key not in mine]
        changes += [f"stage removed: {key} ({mine[key].title})" for key in mine if key not in theirs]
        for key in (k for k in mine if k in theirs):
            before, after = mine[key].model_dump(), theirs[key].model_dump()
            changed = [f"{name} {before[name]} -> {after[name]}" for name in before if before[name] != after[name]]
            if changed:
                changes.append(f"stage changed: {key}: " + ", ".join(changed))
        kept = [k for k in mine if k in theirs]
        if kept != [k for k in theirs if k in mine]:
            changes.append(f"stage order: {' > '.join(mine)} -> {' > '.join(theirs)}")
        for gate in ("review_gate", "qc_gate", "cull"):
            before, after = getattr(self, gate).model_dump(), getattr(other, gate).model_dump()
            changes += [f"{gate}.{name}: {before[name]} -> {after[name]}"
                        for name in before if before[name] != after[name]]
        return changes


class LineFileError(Invalid):
    """The line file cannot be read, or says something a line cannot be; the message names the file and key."""


def check_params(line: Line, source: Path | str) -> Line:
    """The line with each stage's params checked against its operation and upgraded to the operation's
    current version (stamped, so a line recorded with an order says what its values mean); errors name
    ``source``, the stage, the key and the allowed range.

    Why a function the loader calls, and not a validator of StageSpec: config/ is the lowest layer and the
    params models belong to the operations (tasks/pixels/registry.py: pure numpy/OpenCV/pydantic, no Prefect,
    no record). Imported here, lazily and only when a stage has params, the pixel code stays out of every
    other use of the line; and Line stays plain data, so a line recorded with an order reads back
    (``Line.model_validate_json``) without pixel code, and is not refused for an older params version: the
    runner (tasks/operations.py) upgrades those through the same registry when it runs them."""
    if not any(spec.params for spec in line.stages):
        return line
    from tasks.pixels.registry import ParamsError, get

    stages = []
    for spec in line.stages:
        if spec.params:
            try:
                params = get(spec.operation.value).parse(spec.params)
            except ParamsError as exc:
                raise LineFileError(f"{source}: stage '{spec.key}' (operation {spec.operation.value}), "
                                    f"[stages.params]: {exc}") from exc
            spec = spec.model_copy(update={"params": params.as_table()})
        stages.append(spec)
    return line.model_copy(update={"stages": tuple(stages)})


def line_path() -> Path:
    """The current line file: POSTLINE_LINE_FILE (from the environment, else from ``postline.env`` in the working
    folder, as every setting), else config/line.toml."""
    named = os.environ.get("POSTLINE_LINE_FILE") or dotenv_values(SETTINGS_FILE).get("POSTLINE_LINE_FILE")
    return Path(named or DEFAULT_LINE_FILE)


def load_line(path: Path | None = None) -> Line:
    path = Path(path or line_path())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))      # a byte-order mark (Notepad) is no error
    except FileNotFoundError:
        raise LineFileError(f"{path}: no such line file: set POSTLINE_LINE_FILE to the studio's line file (or unset "
                            f"it for {DEFAULT_LINE_FILE})") from None
    except UnicodeDecodeError as exc:
        raise LineFileError(f"{path}: cannot read the line definition: it is not UTF-8 text (byte {exc.start}); "
                            "save it as UTF-8") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LineFileError(f"{path}: cannot read the line definition: {exc}") from exc
    try:
        line = check_params(Line.model_validate(data), path)
    except ValidationError as exc:
        said = "; ".join(dict.fromkeys(_problem(err, data) for err in _first_of_each_stage(exc.errors())))
        raise LineFileError(f"{path}: invalid line definition: {said}") from exc
    if blank := [spec.key for spec in line.stages if not spec.title.strip()]:
        raise LineFileError(f"{path}: invalid line definition: stage {', '.join(map(repr, blank))}: give it a title "
                            "(what people call the stage: the queues, status and the report show it)")
    if later := [spec.key for spec in line.stages[1:] if spec.operation is Operation.GRADE]:
        # checked here, not in Line: a line recorded with an order is read back as it was
        raise LineFileError(f"{path}: invalid line definition: stage {', '.join(map(repr, later))}: only the first "
                            "stage grades (operation 'grade' decodes the RAW again, throwing away what the stages "
                            "before it did); give it another operation, or make it the first stage")
    return line


def _first_of_each_stage(errors: list[dict]) -> list[dict]:
    """The errors worth saying: a stage whose own keys are wrong also fails the line's "at least one stage"
    check; that one is left out when another names the stage."""
    if any(err["loc"][:1] == ("stages",) and len(err["loc"]) > 1 for err in errors):
        return [err for err in errors if not (err["loc"] == ("stages",) and err["type"] == "too_short")]
    return errors


def _problem(err: dict, data: dict) -> str:
    """A line file's error naming the stage by its key (``stage 'liquify_skin': unknown key 'wip_limt' ...``),
    not by its place in the list, and what the key allows."""
    loc = tuple(err["loc"])
    if loc[:1] == ("stages",) and len(loc) > 1 and isinstance(loc[1], int):
        stages = data.get("stages") if isinstance(data.get("stages"), list) else []
        table = stages[loc[1]] if loc[1] < len(stages) and isinstance(stages[loc[1]], dict) else {}
        name = f"stage '{table['key']}'" if isinstance(table.get("key"), str) else f"[[stages]] number {loc[1] + 1}"
        inner = {**err, "loc": loc[2:]}
        sentence = describe_error(inner, model=StageSpec, unknown_hint=LINE_KEYS_HINT) if loc[2:] else err["msg"]
        return f"{name}: {sentence}"
    if not loc and err["type"] == "value_error":       # the line's own checks (Line._checks): their sentence alone
        return str(err["msg"]).removeprefix("Value error, ")
    return describe_error(err, model=Line, unknown_hint=LINE_KEYS_HINT)


LINE_LOOK_SECONDS = 2.0     # how often a long-running process (the web server) looks whether the line file changed


def get_line() -> Line:
    """The current line file's line, read once and again whenever the file changes (looked at every
    LINE_LOOK_SECONDS at most), so that a web server or any process that stays up sees a lead's edit without a
    restart. Raises :class:`LineFileError` while the file cannot be read."""
    global _looked
    now = time.monotonic()
    if _looked is None or now - _looked[0] > LINE_LOOK_SECONDS:
        _looked = (now, _file_version(line_path()))
    return _line_of(_looked[1])


def _file_version(path: Path) -> tuple[str, int, int]:
    try:
        facts = path.stat()
    except OSError:
        return str(path), -1, -1        # load_line says why
    return str(path), facts.st_mtime_ns, facts.st_size


@lru_cache(maxsize=4)
def _line_of(version: tuple[str, int, int]) -> Line:
    return load_line(Path(version[0]))


def _forget_line() -> None:
    """Read the line file again at the next get_line (tests that change the file or POSTLINE_LINE_FILE)."""
    global _looked
    _looked = None
    _line_of.cache_clear()


_looked: tuple[float, tuple[str, int, int]] | None = None
get_line.cache_clear = _forget_line
