"""Presets are data: every library preset loads, and a wrong one says which file, key and range."""

import pytest

from presets.model import DEFAULT_FOR_SHOOT, PresetError, available_presets, load_preset, load_preset_file


def test_every_library_preset_loads_with_a_description():
    names = available_presets()
    assert {"neutral", *DEFAULT_FOR_SHOOT.values()} <= set(names)
    for name in names:
        preset = load_preset(name)
        assert preset.description, f"{name} has no description"


def test_unknown_key_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text('name = "typo"\n[tone]\nexposur_ev = 1\n')
    with pytest.raises(PresetError) as err:
        load_preset_file(path)
    assert "typo.toml" in str(err.value) and "tone.exposur_ev" in str(err.value) and "unknown key" in str(err.value)


def test_out_of_range_value_names_the_allowed_range(tmp_path):
    path = tmp_path / "hot.toml"
    path.write_text('name = "hot"\n[tone]\nexposure_ev = 9\n')
    with pytest.raises(PresetError, match=r"hot.toml: 'tone.exposure_ev' = 9.*<= 5"):
        load_preset_file(path)


def test_missing_preset_lists_the_available_ones():
    with pytest.raises(PresetError, match="no preset named 'nope'.*neutral"):
        load_preset("nope")


def test_hash_follows_the_values_not_the_file():
    neutral = load_preset("neutral")
    assert neutral.resolved_hash() == load_preset("neutral").resolved_hash()
    warmer = neutral.model_copy(update={"tone": neutral.tone.model_copy(update={"temperature": 5.0})})
    assert warmer.resolved_hash() != neutral.resolved_hash()


# --- format 2: library, extends, overrides, upgrades ---------------------------------------------
import json  # noqa: E402

from presets.model import FORMAT_VERSION, Preset, resolve, upgrade_v1  # noqa: E402

STUDIO_STYLES = {"french-retro", "wabi-sabi", "cyberpunk", "morandi", "bright-wedding", "warm-children"}


def test_library_has_the_studio_styles_and_round_trips_as_json():
    assert STUDIO_STYLES | {"neutral"} <= set(available_presets())
    for name in available_presets():
        preset = load_preset(name)
        assert preset.format == FORMAT_VERSION
        again = Preset.model_validate_json(preset.model_dump_json())
        assert again == preset and again.resolved_hash() == preset.resolved_hash()


def test_extends_deep_merges_the_parent_under_the_child():
    parent, child = load_preset("bright-wedding"), load_preset("warm-children")
    assert child.tone.highlights == parent.tone.highlights == -30      # inherited
    assert child.tone.exposure_ev == 0.2 and parent.tone.exposure_ev == 0.4  # overridden
    assert child.curve == parent.curve and child.hsl.orange == parent.hsl.orange
    assert child.hsl.green.hue == 0 and parent.hsl.green.hue == -20     # one value of a section
    assert child.name == "warm-children" and child.description != parent.description


def test_extends_in_a_circle_or_to_nothing_is_an_error(tmp_path):
    (tmp_path / "a.toml").write_text('name = "a"\nformat = 2\nextends = "b"\n')
    (tmp_path / "b.toml").write_text('name = "b"\nformat = 2\nextends = "a"\n')
    with pytest.raises(PresetError, match="circle"):
        resolve("a", folder=tmp_path)
    (tmp_path / "c.toml").write_text('name = "c"\nformat = 2\nextends = "nope"\n')
    with pytest.raises(PresetError, match=r"c.toml: 'extends' = 'nope'.*available: a, b, c"):
        resolve("c", folder=tmp_path)


def test_order_overrides_change_single_values_and_are_validated():
    preset = resolve("bright-wedding", {"tone.exposure_ev": 0.1, "hsl.blue.saturation": -50})
    assert preset.tone.exposure_ev == 0.1 and preset.hsl.blue.saturation == -50
    assert preset.tone.highlights == -30                                # the rest stays
    assert preset.resolved_hash() != load_preset("bright-wedding").resolved_hash()
    with pytest.raises(PresetError, match=r"bright-wedding.toml: 'tone.exposure_ev' = 7.*<= 5"):
        resolve("bright-wedding", {"tone.exposure_ev": 7})
    with pytest.raises(PresetError, match=r"unknown key 'tone.brightness'"):
        resolve("neutral", {"tone.brightness": 1})
    with pytest.raises(PresetError, match=r"'decode.white_balance'.*one of"):
        resolve("neutral", {"decode.white_balance": "tungsten"})


def test_format_1_files_and_stored_orders_are_upgraded(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text('name = "old"\nversion = 3\n[tone]\nexposure_ev = 0.5\ncontrast = 10\n')
    preset = load_preset_file(path)
    assert preset.format == 2 and preset.tone.exposure_ev == 0.5 and preset.tone.contrast == 10
    stored_v1 = json.dumps({"name": "old", "version": 3, "description": "",
                            "decode": {"white_balance": "as_shot", "demosaic": "AHD", "highlight_mode": "clip"},
                            "tone": {"exposure_ev": 0.5, "temperature": 0, "tint": 0, "contrast": 10,
                                     "saturation": 0, "vibrance": 0}})
    assert Preset.model_validate_json(stored_v1) == preset
    assert upgrade_v1({"name": "x"}) == {"name": "x", "format": 2}


def test_bad_curve_and_bad_lut_name_the_file_and_key(tmp_path):
    path = tmp_path / "bent.toml"
    path.write_text('name = "bent"\nformat = 2\n[curve]\nmaster = [[0.0, 0.0], [0.6, 0.5], [0.4, 0.7], [1.0, 1.0]]\n')
    with pytest.raises(PresetError, match=r"bent.toml: 'curve.master'.*strictly increasing"):
        load_preset_file(path)
    path.write_text('name = "bent"\nformat = 2\n[lut]\nfile = "missing.cube"\n')
    with pytest.raises(PresetError, match=r"bent.toml: 'lut.file' = 'missing.cube'"):
        load_preset_file(path)


def test_a_preset_records_the_checksum_of_its_lut():
    preset = load_preset("cyberpunk")
    assert preset.lut.file == "teal-magenta.cube" and len(preset.lut.sha256) == 64
