"""The line definition: ordered stages and the QC gate, read from ``config/line.toml``
(or the file named by ``POSTLINE_LINE_FILE``). A studio changes its line here, not in code."""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_LINE_FILE = Path(__file__).with_name("line.toml")


class StageMode(StrEnum):
    AUTOMATIC = "automatic"


class Operation(StrEnum):
    GRADE = "grade"    # RAW decode + the order's preset -> working TIFF + proof
    SKIN = "skin"      # edge-preserving smoothing of skin tones
    DETAIL = "detail"  # local contrast on luminance
    FINISH = "finish"  # output sharpening


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="Stable id, used in the production record.")
    title: str = Field(max_length=60, description="What people call the stage.")
    mode: StageMode = StageMode.AUTOMATIC
    operation: Operation


class QcGateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_clipped_share: float = Field(0.10, gt=0, le=1, description="Largest share of clipped pixels that passes.")
    min_mean_luma: float = Field(0.03, ge=0, le=1, description="Darker on average than this is 'all black'.")
    max_mean_luma: float = Field(0.97, ge=0, le=1, description="Brighter on average than this is 'all white'.")


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stages: tuple[StageSpec, ...] = Field(min_length=1)
    qc_gate: QcGateSpec = QcGateSpec()

    @model_validator(mode="after")
    def _checks(self) -> "Line":
        keys = [s.key for s in self.stages]
        if len(set(keys)) != len(keys):
            raise ValueError(f"stage keys must be unique, got {keys}")
        if self.stages[0].operation is not Operation.GRADE:
            raise ValueError("the first stage must use operation 'grade' (it turns the RAW into the working file)")
        return self

    def stage(self, key: str) -> StageSpec:
        for spec in self.stages:
            if spec.key == key:
                return spec
        raise KeyError(f"no stage {key!r} in the line; stages are {[s.key for s in self.stages]}")

    def after(self, key: str) -> tuple[StageSpec, ...]:
        """The stage ``key`` and every stage after it."""
        index = [s.key for s in self.stages].index(key)
        return self.stages[index:]


class LineFileError(ValueError):
    pass


def load_line(path: Path | None = None) -> Line:
    path = Path(path or os.environ.get("POSTLINE_LINE_FILE") or DEFAULT_LINE_FILE)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Line.model_validate(data)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LineFileError(f"{path}: cannot read the line definition: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise LineFileError(f"{path}: invalid line definition: {problems}") from exc


@lru_cache(maxsize=1)
def get_line() -> Line:
    return load_line()
