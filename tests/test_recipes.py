"""Delivery recipes are data: the shipped ones load, and a wrong one is refused with an error that names the
file, the key and what is allowed (`postline recipe check`)."""

from __future__ import annotations

import contextlib
import io

import pytest

from presets.recipe import RecipeError, available, load_recipe, load_recipe_file
from surfaces.cli import main

GOOD = """
[[renditions]]
key = "full"
[[renditions]]
key = "web"
long_edge = 2048
"""


def test_each_shoot_type_has_a_recipe_with_a_full_size_sRGB_jpeg():
    assert {"wedding", "portrait", "children"} <= set(available())
    for name in ("wedding", "portrait", "children"):
        recipe = load_recipe(name)
        full = recipe.renditions[0]
        assert (full.key, full.long_edge, full.format.value, full.colour_space) == ("full", None, "jpeg", "srgb")
        assert not recipe.metadata.keep_gps and not recipe.metadata.keep_serials
    wedding = load_recipe("wedding")
    assert {r.key: r.zip_set for r in wedding.renditions} == {
        "full": "client", "web": "client", "social": "social", "print": "print", "proof": "proof"}
    assert wedding.renditions[3].colour_space == "adobe_rgb" and wedding.renditions[3].dpi == 300


@pytest.mark.parametrize("text, expected", [
    (GOOD.replace('key = "web"', 'key = "web"\nquality = 101'),
     "'renditions[1].quality' = 101: Input should be less than or equal to 100 (allowed: >= 50 and <= 100)"),
    (GOOD.replace('key = "web"', 'key = "web"\nqualty = 90'), "unknown key 'renditions[1].qualty'"),
    (GOOD.replace('key = "web"', 'key = "web"\naspect = "3:2"'), "'renditions[1].aspect' = '3:2'"),
    (GOOD.replace('key = "web"', 'key = "web"\nname = "{cleint}-{seq}"'), "unknown field(s) ['cleint']"),
    (GOOD.replace('key = "web"', 'key = "web"\nname = "{client.__class__}"'), "unknown field(s)"),
    (GOOD.replace('key = "web"', 'key = "web"\nwatermark = { text = "{password}" }'), "unknown field(s) ['password']"),
    (GOOD.replace('key = "web"', 'key = "web"\nbit_depth = 16'), "a JPEG has 8 bits per channel"),
    (GOOD.replace('key = "web"', 'key = "full"'), "rendition keys must be unique; twice: ['full']"),
    (GOOD.replace('key = "web"', 'key = "../web"'), "'renditions[1].key' = '../web'"),
    (GOOD + "\n[metadata]\nkeep_gps = 3\n", "'metadata.keep_gps' = 3"),
    ("[[renditions]\nkey = 1", "not valid TOML"),
])
def test_a_wrong_recipe_is_refused_naming_the_file_the_key_and_the_range(tmp_path, text, expected):
    path = tmp_path / "studio.toml"
    path.write_text(text)
    with pytest.raises(RecipeError) as refused:
        load_recipe_file(path)
    assert str(refused.value).startswith(f"{path}: ") and expected in str(refused.value), str(refused.value)


def test_recipe_check_and_list_on_the_command_line(tmp_path):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("long_edge = 2048", "long_edge = 10"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        assert main(["recipe", "check", str(good)]) == 0
        assert main(["recipe", "check", str(good), str(bad)]) == 1
        assert main(["recipe", "list"]) == 0
    text = out.getvalue()
    assert "OK  " in text and "recipe good v1, 2 renditions in 2 ZIPs" in text
    assert f"{bad}: 'renditions[1].long_edge' = 10" in text and ">= 64" in text
    assert "wedding" in text and "full, web, social, print, proof; in black and white on request: full-bw, web-bw" in text


def test_a_recipe_is_chosen_by_name_never_by_a_path_in_disguise():
    with pytest.raises(RecipeError, match="not a recipe name"):
        load_recipe("Wedding Deluxe")
    with pytest.raises(RecipeError, match="no recipe 'nonesuch'"):
        load_recipe("nonesuch")
