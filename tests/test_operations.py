"""Retouch operations as data: one contract (versioned, bounded params; colour space in and out; apply on
float32), a registry by name, and each stage's params set in the line file, checked and upgraded when the
line is loaded, and used when an order runs."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import BaseModel

from config.line import DEFAULT_LINE_FILE, Line, LineFileError, Operation, get_line, load_line
from config.settings import get_settings
from tasks.operations import OPERATIONS, OpContext
from tasks.pixels import faces, imageio, skin
from tasks.pixels.colour import luma
from tasks.pixels.contract import ColourSpace, OpParams, ParamsError
from tasks.pixels.registry import REGISTRY, get

LINE_HEAD = """
[[stages]]
key = "cull_grade"
title = "Cull & grade"
operation = "grade"

[[stages]]
key = "liquify_skin"
title = "Liquify & skin"
operation = "skin"
"""


def line_with(tmp_path: Path, params: str, head: str = LINE_HEAD, name: str = "line.toml") -> Path:
    path = tmp_path / name
    path.write_text(head + params)
    return path


def fields_of(model: type[BaseModel], prefix: str = ""):
    """(dotted name, FieldInfo) of every value of ``model``, nested params models included."""
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from fields_of(info.annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info


def bounds(info) -> set[str]:
    return {attr for meta in info.metadata for attr in ("ge", "gt", "le", "lt") if getattr(meta, attr, None) is not None}


# --- the contract ---------------------------------------------------------------------------------

def test_every_operation_of_the_line_but_grading_is_registered_by_its_name():
    assert set(REGISTRY) == {op.value for op in Operation} - {Operation.GRADE.value}
    assert all(REGISTRY[name].name == name for name in REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_operation_declares_a_version_bounded_params_and_its_colour_space(name):
    op = get(name)
    assert issubclass(op.params, OpParams) and op.params.model_config["extra"] == "forbid"
    assert isinstance(op.space_in, ColourSpace) and isinstance(op.space_out, ColourSpace)
    assert op.version >= 1 and set(op.upgrades) == set(range(1, op.version))     # an upgrade for every bump
    version = op.params.model_fields["version"]
    assert {m.ge for m in version.metadata if hasattr(m, "ge")} == {op.version} == {
        m.le for m in version.metadata if hasattr(m, "le")}
    for key, info in fields_of(op.params):
        assert info.description, f"{name}: '{key}' has no description"
        if info.annotation in (int, float):
            assert bounds(info) & {"ge", "gt"} and bounds(info) & {"le", "lt"}, f"{name}: '{key}' is unbounded"
        else:
            assert info.annotation is bool or issubclass(info.annotation, Enum), f"{name}: '{key}' is {info.annotation}"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_apply_keeps_dtype_and_shape_and_checks_its_input(name):
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.uniform(0.2, 0.8, (24, 40, 3)).astype(np.float32), (0, 0), 2.0)
    image[6:18, 10:30] = [0.85, 0.62, 0.50]                               # a patch of skin colour
    before = image.copy()
    out = get(name)(image)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert np.array_equal(image, before)                                 # pure: the input is left as it was
    with pytest.raises(ValueError, match="float32 HxWx3"):
        get(name)(image.astype(np.float64))
    with pytest.raises(ValueError, match="float32 HxWx3"):
        get(name)(image[..., 0])


def test_params_out_of_range_or_unknown_are_refused_with_the_key_and_the_range():
    with pytest.raises(ParamsError, match=r"'strength' = 1.5: .*\(allowed: >= 0 and <= 1\)"):
        get("skin").parse({"strength": 1.5})
    with pytest.raises(ParamsError, match=r"'faces.min_neighbours' = 50: .*\(allowed: >= 1 and <= 20\)"):
        get("skin").parse({"faces": {"min_neighbours": 50}})
    with pytest.raises(ParamsError, match=r"unknown key 'amout' \(the operation's keys: .*amount"):
        get("finish").parse({"amout": 1.0})
    with pytest.raises(ParamsError, match=r"'version' = 3: .* \(allowed: >= 1 and <= 2"):
        get("skin").parse({"version": 3})


def test_version_one_skin_params_are_upgraded_to_their_meaning_then():
    upgraded = get("skin").parse({"version": 1, "strength": 0.3})
    assert upgraded == skin.SkinParams(strength=0.3, scope=skin.SkinScope.SKIN_TONES)
    assert get("skin").parse({"strength": 0.3}).scope is skin.SkinScope.FACES      # no version: the current one


# --- the line file --------------------------------------------------------------------------------

def test_a_stage_carries_its_params_checked_and_stamped_with_the_version(tmp_path):
    line = load_line(line_with(tmp_path, "[stages.params]\nstrength = 0.4\n[stages.params.faces]\nprofiles = false\n"))
    assert line.stage("liquify_skin").params == {"version": 2, "strength": 0.4, "faces": {"profiles": False}}
    assert line.stage("cull_grade").params == {}
    assert Line.model_validate_json(line.model_dump_json()) == line        # recorded with an order, read back


@pytest.mark.parametrize(("table", "expected"), [
    ("strenght = 0.4", r"unknown key 'strenght' \(the operation's keys: version, strength, "),
    ("strength = 1.4", r"'strength' = 1.4: .*\(allowed: >= 0 and <= 1\)"),
    ("texture = -0.1", r"'texture' = -0.1: .*\(allowed: >= 0 and <= 1\)"),
    ("strength = \"strong\"", r"'strength' = 'strong': .*\(allowed: >= 0 and <= 1\)"),
])
def test_a_bad_key_or_value_in_the_line_names_the_file_the_stage_the_key_and_the_range(tmp_path, table, expected):
    path = line_with(tmp_path, f"[stages.params]\n{table}\n", name="studio-line.toml")
    with pytest.raises(LineFileError, match=rf"studio-line.toml: stage 'liquify_skin' \(operation skin\).*{expected}"):
        load_line(path)


@pytest.mark.parametrize(("change", "expected"), [
    (("max_clipped_share = 0.10", "max_clipped_shar = 0.10"),
     r"unknown key 'qc_gate.max_clipped_shar' \(check the spelling; config/line.toml's comments list every key\)"),
    (('operation = "skin"\n', 'operation = "skin"\nwip_limt = 3\n'), r"stage 'liquify_skin': unknown key 'wip_limt'"),
    (("max_clipped_share = 0.10", "max_clipped_share = 1.5"),
     r"'qc_gate.max_clipped_share' = 1.5: .*\(allowed: > 0 and <= 1\)"),
    (('mode = "automatic"\noperation = "skin"', 'mode = "automatc"\noperation = "skin"'),
     r"stage 'liquify_skin': 'mode' = 'automatc': .*'manual'"),
    (('operation = "detail"', 'operation = "grade"'),         # it decoded the RAW again: the stages before, lost
     r"stage 'fine_retouch': only the first stage grades \(operation 'grade' decodes the RAW again, throwing away"),
    (('title = "Fine retouch & colour"', 'title = " "'), r"stage 'fine_retouch': give it a title"),
    (('key = "fine_retouch"', 'key = "liquify_skin"'),
     r"stage keys must be unique, got \['cull_grade', 'liquify_skin', 'liquify_skin', 'design_layout'\]$"),
])
def test_the_line_files_own_keys_are_named_with_their_stage_and_range(tmp_path, change, expected):
    """A wrong key of the studio's line file (not of an operation's params): the stage by its key, not by its place
    in the list, the spelling hint, the allowed range; nothing else said (a wrong stage does not also make the
    line "need at least one stage")."""
    path = tmp_path / "studio-line.toml"
    path.write_text(DEFAULT_LINE_FILE.read_text().replace(*change, 1))
    with pytest.raises(LineFileError, match=rf"studio-line.toml: invalid line definition: {expected}") as raised:
        load_line(path)
    assert "stages.1" not in str(raised.value) and "at least 1 item" not in str(raised.value)


def test_a_line_file_saved_by_notepad_or_in_latin_1_is_read_or_named_not_a_traceback(tmp_path):
    text = DEFAULT_LINE_FILE.read_text()
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_line(tmp_path / "bom.toml") == load_line(DEFAULT_LINE_FILE)
    (tmp_path / "latin.toml").write_bytes(text.replace('title = "Fine retouch & colour"', 'title = "Retouche fine"')
                                          .replace("Retouche fine", "Retouche fin\u00e9").encode("latin-1"))
    with pytest.raises(LineFileError, match=r"latin.toml: cannot read the line definition: it is not UTF-8 text "
                                            r"\(byte \d+\); save it as UTF-8"):
        load_line(tmp_path / "latin.toml")


def test_a_line_file_that_is_not_there_says_which_setting_names_it(tmp_path):
    with pytest.raises(LineFileError, match="no such line file: set POSTLINE_LINE_FILE"):
        load_line(tmp_path / "gone.toml")


def test_params_on_grading_or_on_a_manual_stage_are_refused(tmp_path):
    graded = LINE_HEAD.replace('operation = "grade"\n', 'operation = "grade"\n[stages.params]\nexposure_ev = 1\n')
    with pytest.raises(LineFileError, match="grade.toml: .*'cull_grade': grading takes its values from the order's preset"):
        load_line(line_with(tmp_path, "", head=graded, name="grade.toml"))
    manual = LINE_HEAD.replace('operation = "skin"', 'mode = "manual"')
    with pytest.raises(LineFileError, match="manual.toml: .*'liquify_skin' has params but no operation"):
        load_line(line_with(tmp_path, "[stages.params]\nstrength = 0.4\n", head=manual, name="manual.toml"))


def test_an_old_version_table_in_the_line_is_upgraded_when_loaded(tmp_path):
    line = load_line(line_with(tmp_path, "[stages.params]\nversion = 1\nstrength = 0.3\n"))
    assert line.stage("liquify_skin").params == {"version": 2, "strength": 0.3, "scope": "skin_tones"}
    with pytest.raises(LineFileError, match=r"line.toml: stage 'liquify_skin'.*'version' = 7"):
        load_line(line_with(tmp_path, "[stages.params]\nversion = 7\n"))


def test_the_shipped_lines_load_and_the_example_sets_the_skin_strength():
    assert all(spec.params == {} for spec in load_line(DEFAULT_LINE_FILE).stages)
    example = load_line(DEFAULT_LINE_FILE.parent / "examples" / "human-line.toml")
    assert example.stage("liquify_skin").params == {"version": 2, "strength": 0.4, "texture": 0.8}


# --- running ------------------------------------------------------------------------------------

def skin_texture(image: np.ndarray, mask: np.ndarray) -> float:
    y = luma(image)
    return float(np.var((y - cv2.GaussianBlur(y, (0, 0), 1.0))[mask]))


def test_a_recorded_old_version_is_upgraded_when_the_stage_runs(portrait, tmp_path):
    """A line recorded with version-1 skin params (whole frame) runs with that meaning, not the faces-only one."""
    source = imageio.write_working_tiff(tmp_path / "in.tif", portrait)
    found = faces.detect(portrait)
    outside = np.ones(portrait.shape[:2], bool)
    for face in found:
        x0, y0, x1, y1 = face.grown(0.5, portrait.shape)
        outside[y0:y1, x0:x1] = False
    runs = {}
    for name, params in (("v1", {"version": 1, "strength": 1.0}), ("v2", {"strength": 1.0})):
        OPERATIONS[Operation.SKIN](source, tmp_path / f"{name}.tif", OpContext(preset=None, round=1, params=params))
        runs[name] = imageio.read_working_tiff(tmp_path / f"{name}.tif")
    before = imageio.read_working_tiff(source)
    assert np.array_equal(runs["v2"][outside], before[outside])             # faces only
    assert (runs["v1"] != before).any(axis=2)[outside].sum() > 1000          # every skin-coloured pixel


def test_an_order_runs_the_skin_stage_with_the_line_files_strength(home, prefect_api, tmp_path, monkeypatch, portrait):
    """Through the whole line: the order's skin stage smooths with the strength the line file gives it (1.0
    here), more than the default (0.5) does on the very same graded photo."""
    from record import work
    from record.db import transaction
    from record.models import WorkStatus
    from tasks.stages import stage_input
    from tests.flowkit import Delivery, run_order

    card = tmp_path / "card"
    card.mkdir()
    imageio.write_working_tiff(card / "eileen.tif", portrait)
    path = line_with(tmp_path, "[stages.params]\nstrength = 1.0\n\n"
                     "[qc_gate]\nmin_skin_texture_ratio = 0\nmax_clipped_share = 0.5\n")   # her white suit: 12% clipped
    monkeypatch.setenv("POSTLINE_LINE_FILE", str(path))
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("POSTLINE_KEEP_REMAKEABLE_FILES", "true")     # its finished file is looked at after delivery
    get_settings.cache_clear()
    get_line.cache_clear()
    try:
        order_id, package = run_order(card)
    finally:
        get_line.cache_clear()
    assert Delivery(package).mismatches() == [] and Delivery(package).delivered_sources() == {"eileen.tif"}
    with transaction() as session:
        [item] = work.items_in(session, order_id, "liquify_skin", WorkStatus.SUBMITTED)   # passed QC in round 1
    graded = stage_input(item.id)              # fused with grading: its input is the graded image, not on disk
    ours = imageio.read_working_tiff(Path(item.output_path))
    imageio.write_working_tiff(tmp_path / "graded.tif", graded)
    OPERATIONS[Operation.SKIN](tmp_path / "graded.tif", tmp_path / "default.tif", OpContext(preset=None, round=1))
    default = imageio.read_working_tiff(tmp_path / "default.tif")
    found = faces.detect(graded)
    assert len(found) == 1
    mask = skin.face_skin_mask(graded, found) > 0.5
    assert skin_texture(ours, mask) < 0.95 * skin_texture(default, mask) < 0.99 * skin_texture(graded, mask)
