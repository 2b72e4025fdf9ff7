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
