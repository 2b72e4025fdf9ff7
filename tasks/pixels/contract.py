"""The one contract every retouch operation follows (darktable's iop interface, in small).

An operation is a :class:`PixelOperation`: a name (what a line's ``operation = ...`` says), a parameter
model, the colour space it reads and writes, and a pure ``apply(image, params) -> image`` on float32.

Parameters are data, like the presets (presets/model.py): a pydantic model (:class:`OpParams`) whose every
value has bounds, a default and a description, and a ``version``. A change of meaning bumps the version and
adds an upgrade function, ``upgrades[N]`` turning a version-N mapping into version N+1 (darktable's
``legacy_params``); parameters written for an older version are upgraded, never refused. A mapping without
``version`` is taken as written for the current one.

Pure: numpy, pydantic and the presets' wording of errors (presets.model.describe_error); no Prefect, no
record, no files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from config.errors import Invalid
from presets.model import describe_error


class ColourSpace(StrEnum):
    DISPLAY_SRGB = "display_srgb"      # sRGB-encoded, float32 [0, 1], HxWx3: the working TIFF's values
    LINEAR_REC2020 = "linear_rec2020"  # linear light, Rec.2020 primaries: what the RAW decode gives grading


class OpParams(BaseModel):
    """Base of every operation's parameters. A subclass declares
    ``version: int = Field(N, ge=N, le=N, description=...)``: the version its values mean."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int

    def as_table(self) -> dict[str, Any]:
        """The values that were given (after any upgrade), with the version they are written for: what a
        line keeps for a stage, JSON- and TOML-ready."""
        return {**self.model_dump(mode="json", exclude_unset=True), "version": self.version}


class ParamsError(Invalid):
    """Parameters an operation cannot take; the message names the key and what is allowed."""


Upgrade = Callable[[dict], dict]


@dataclass(frozen=True)
class PixelOperation:
    name: str
    params: type[OpParams]
    apply: Callable[[np.ndarray, Any], np.ndarray]
    space_in: ColourSpace
    space_out: ColourSpace
    summary: str
    upgrades: Mapping[int, Upgrade] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.params.model_fields["version"].default

    def parse(self, data: Mapping[str, Any] | OpParams | None = None) -> OpParams:
        """Validated parameters from a mapping (a line's ``[stages.params]``, a recorded line), upgraded
        from an older version first. Raises :class:`ParamsError`."""
        if isinstance(data, self.params):
            return data
        if isinstance(data, OpParams):
            raise ParamsError(f"{type(data).__name__} given to operation {self.name!r}, which takes {self.params.__name__}")
        data = self.upgraded(dict(data or {}))
        try:
            return self.params.model_validate(data)
        except ValidationError as exc:
            hint = "the operation's keys: " + ", ".join(self.params.model_fields)
            raise ParamsError("; ".join(describe_error(err, model=self.params, unknown_hint=hint)
                                        for err in exc.errors())) from exc

    def upgraded(self, data: dict) -> dict:
        """``data`` brought to the current version through each upgrade function in turn."""
        version, current = data.get("version", self.version), self.version
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= current:
            raise ParamsError(f"'version' = {version!r}: operation {self.name!r} has parameter versions 1 to "
                              f"{current} (allowed: >= 1 and <= {current}; leave it out for the current one)")
        data = {**data, "version": version}
        while version < current:
            step = self.upgrades.get(version)
            if step is None:
                raise ParamsError(f"'version' = {version}: operation {self.name!r} cannot upgrade parameters of "
                                  f"version {version}; write them for version {current}")
            data = step(data)
            if data.get("version") != version + 1:
                raise RuntimeError(f"{self.name}: the upgrade from version {version} gave version "
                                   f"{data.get('version')!r}, not {version + 1}")
            version += 1
        return data

    def __call__(self, image: np.ndarray, params: Mapping[str, Any] | OpParams | None = None) -> np.ndarray:
        """``apply`` with the contract checked: float32 HxWx3 in, the same shape and dtype out."""
        if not isinstance(image, np.ndarray) or image.dtype != np.float32 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{self.name}: expected a float32 HxWx3 image in {self.space_in.value}, got "
                             f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")
        out = self.apply(image, self.parse(params))
        if out.dtype != image.dtype or out.shape != image.shape:
            raise RuntimeError(f"{self.name}: gave {out.dtype} {out.shape} for {image.dtype} {image.shape}")
        return out
