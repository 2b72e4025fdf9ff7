"""`postline preset list|show|check|import|render` as a library keeper uses them."""

from pathlib import Path

import numpy as np
from PIL import Image

from surfaces.cli import main
from tasks.synthetic import render_scene, write_dng

SAMPLE_XMP = Path(__file__).parent / "data" / "lr-golden-hour.xmp"


def test_list_shows_every_preset_with_its_description(capsys):
    assert main(["preset", "list"]) == 0
    out = capsys.readouterr().out
    assert "cyberpunk" in out and "Morandi: low-saturation" in out and "[default for wedding]" in out


def test_show_prints_resolved_values_with_overrides(capsys):
    assert main(["preset", "show", "warm-children", "--set", "tone.exposure_ev=0.5"]) == 0
    out = capsys.readouterr().out
    assert "exposure_ev = 0.5" in out and "highlights = -30.0" in out and "sha256" in out   # inherited value shown
    assert main(["preset", "show", "neutral", "--set", "tone.exposure_ev=9"]) == 2
    assert "<= 5" in capsys.readouterr().err


def test_check_names_the_bad_file_and_key(tmp_path, capsys):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('name = "good"\nformat = 2\n[tone]\ncontrast = 10\n')
    bad.write_text('name = "bad"\nformat = 2\n[hsl.teal]\nhue = 10\n')
    assert main(["preset", "check", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "ok   " in out and "good" in out and "bad.toml: unknown key 'hsl.teal'" in out


def test_check_refuses_a_library_file_whose_name_is_not_its_files_as_the_library_does(tmp_path, capsys,
                                                                                        monkeypatch):
    """`preset check` said ok of presets/namemismatch.toml (name = "other"), which `preset list` showed BROKEN and
    `order create --preset namemismatch` refused."""
    monkeypatch.setattr("presets.model.PRESET_DIR", tmp_path)
    (tmp_path / "namemismatch.toml").write_text('name = "other"\nformat = 2\n[tone]\ncontrast = 10\n')
    assert main(["preset", "check", str(tmp_path / "namemismatch.toml")]) == 1
    assert "'name' is 'other' but the file is namemismatch.toml; make them match" in capsys.readouterr().out


def test_check_takes_a_draft_outside_the_library_that_extends_a_library_preset(tmp_path, capsys):
    draft = tmp_path / "my-wedding.toml"          # the studio's draft, in someone's folder, before it is installed
    draft.write_text('name = "my-wedding"\nformat = 2\nextends = "bright-wedding"\n[tone]\nexposure_ev = 0.1\n')
    assert main(["preset", "check", str(draft)]) == 0
    assert "ok   " in capsys.readouterr().out
    from presets.model import load_preset, load_preset_file

    mine, library = load_preset_file(draft), load_preset("bright-wedding")
    assert mine.tone.exposure_ev == 0.1 and mine.tone.highlights == library.tone.highlights == -30   # inherited
    (tmp_path / "typo.toml").write_text('name = "typo"\nformat = 2\nextends = "brigth-wedding"\n')
    assert main(["preset", "check", str(tmp_path / "typo.toml")]) == 1
    said = capsys.readouterr().out
    assert "'extends' = 'brigth-wedding' but there is no" in said and "or of the library: " in said
    assert "bright-wedding" in said.split("or of the library: ")[1]


def test_check_reports_a_lut_of_the_wrong_size(tmp_path, capsys):
    cube = tmp_path / "tiny.cube"
    cube.write_text("LUT_3D_SIZE 2\n" + "0 0 0\n" * 8)
    preset = tmp_path / "looks.toml"
    preset.write_text(f'name = "looks"\nformat = 2\n[lut]\nfile = "{cube}"\n')
    assert main(["preset", "check", str(preset)]) == 1
    assert "tiny.cube: LUT_3D_SIZE is 2" in capsys.readouterr().out


def test_a_preset_naming_a_file_that_is_no_lut_shows_nothing_of_it(tmp_path, capsys):
    """A preset from elsewhere whose lut.file named /etc/passwd (or ../../etc/passwd) was read, and the check
    printed the file's first characters ('root:x:0:0:root:/roo'), without naming the preset or its key."""
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET-9f2c:/root:/bin/bash\n")
    disguised = tmp_path / "secret.cube"
    disguised.write_text(secret.read_text())
    for target, said in ((secret, "not a .cube file"), ("../../../../" + str(secret), "not a .cube file"),
                         (disguised, "line 1: cannot read it: neither a keyword")):
        preset = tmp_path / "borrowed.toml"
        preset.write_text(f'name = "borrowed"\nformat = 2\n[lut]\nfile = "{target}"\n')
        assert main(["preset", "check", str(preset)]) == 1
        out = capsys.readouterr().out
        assert said in out and f"{preset}: 'lut.file' = " in out and "SECRET" not in out and "root:x" not in out, out


def test_import_writes_toml_that_checks_and_reports_unmapped(tmp_path, capsys):
    out = tmp_path / "golden-hour.toml"
    assert main(["preset", "import", str(SAMPLE_XMP), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "crs:Clarity2012" in printed and out.is_file()
    assert main(["preset", "check", str(out)]) == 0


def test_render_full_and_preview(tmp_path, capsys):
    raw = write_dng(tmp_path / "p.dng", render_scene("portrait", 240, 160))
    assert main(["preset", "render", str(raw), "-p", "french-retro", "-o", str(tmp_path / "full.jpg")]) == 0
    assert main(["preset", "render", str(raw), "-p", "french-retro", "--preview"]) == 0
    with Image.open(tmp_path / "full.jpg") as full, Image.open(tmp_path / "p.french-retro.preview.jpg") as preview:
        assert full.size == (240, 160) and preview.size == (120, 80)
        assert np.asarray(full).mean() > 10
    bad = tmp_path / "bad.dng"
    bad.write_bytes(b"not a raw")
    assert main(["preset", "render", str(bad), "-p", "neutral"]) == 1
    assert "bad.dng" in capsys.readouterr().err


def test_render_to_a_kind_of_file_it_does_not_write_is_a_usage_error(tmp_path, capsys):
    assert main(["preset", "render", "-p", "neutral", str(Path(__file__)), "-o", str(tmp_path / "x.png")]) == 2
    assert "-o x.png: render writes .jpg or .tif files" in capsys.readouterr().err
