"""A preset is chosen by its name in the library, never by a path; errors about a file never echo its content."""

from __future__ import annotations

from pathlib import Path

import pytest

from presets.model import PresetError, load_preset, load_preset_file, resolve
from surfaces.cli import main
from tasks.synthetic import write_card

REPO = Path(__file__).resolve().parents[1]
LINE_FILE_WORDS = ("cull_grade", "Liquify", "stages", "qc_gate", "max_clipped_share")   # config/line.toml's content


@pytest.fixture
def card(tmp_path):
    return write_card(tmp_path / "card", 1, size=(64, 48))


@pytest.fixture
def secret_toml(tmp_path) -> Path:
    """A TOML file outside the library whose values must never reach the terminal."""
    path = tmp_path / "secret.toml"
    path.write_text('name = "SECRET-NAME-do-not-print"\npassword = "SECRET-hunter2"\n[tone]\nexposure_ev = "SECRET-x"\n')
    return path


@pytest.mark.parametrize("name", ["../config/line", "..", "../presets/neutral", "sub/neutral", "neutral\n",
                                  "Neutral", "neutral.toml", str(REPO / "config" / "line")])
def test_order_create_refuses_a_preset_path_and_prints_no_file_content(home, card, capsys, name):
    code = main(["order", "create", "--client", "Anna", "--shoot", "portrait", "--from", str(card), "--preset", name])
    out, err = capsys.readouterr()
    assert code == 2
    assert "is not a preset name" in err and "not by a path" in err
    assert "Available: bright-wedding, classic-portrait" in err and "neutral" in err
    for word in LINE_FILE_WORDS:
        assert word not in out + err
    assert main(["status"]) == 0 and "No orders yet" in capsys.readouterr().out    # nothing was recorded


def test_an_absolute_path_to_a_toml_file_is_not_read(home, card, capsys, secret_toml):
    stem = str(secret_toml.with_suffix(""))            # the library once read "<stem>.toml" wherever it was
    code = main(["order", "create", "--client", "Anna", "--shoot", "portrait", "--from", str(card), "--preset", stem])
    out, err = capsys.readouterr()
    assert code == 2 and "is not a preset name" in err
    assert "SECRET" not in out + err
    with pytest.raises(PresetError, match="is not a preset name"):
        load_preset(stem)


@pytest.mark.parametrize("command", [["preset", "show", "../config/line"],
                                     ["preset", "render", "x.dng", "-p", "../config/line"]])
def test_preset_show_and_render_take_names_only(capsys, command):
    assert main(command) == 2
    out, err = capsys.readouterr()
    assert "is not a preset name" in err and "neutral" in err
    for word in LINE_FILE_WORDS:
        assert word not in out + err


def test_an_unknown_name_lists_the_library(capsys):
    assert main(["preset", "show", "vintage"]) == 2
    err = capsys.readouterr().err
    assert "no preset named 'vintage'" in err and "bright-wedding, classic-portrait" in err


def test_extends_names_a_preset_of_the_same_folder_only(tmp_path, secret_toml):
    library = tmp_path / "library"
    library.mkdir()
    (library / "child.toml").write_text(f'name = "child"\nformat = 2\nextends = "../secret"\n')
    with pytest.raises(PresetError) as caught:
        resolve("child", folder=library)
    assert "must be the name of another preset" in str(caught.value) and "SECRET" not in str(caught.value)


def test_checking_a_file_that_is_no_preset_quotes_none_of_it(tmp_path, secret_toml, capsys):
    """`preset check` takes a file path (it is documented to); its errors name keys and positions, not values."""
    line_toml = REPO / "config" / "line.toml"
    not_toml = tmp_path / "passwd"
    not_toml.write_text("root:x:0:0:SECRET-root:/root:/bin/bash\n")
    twice = tmp_path / "twice.toml"
    long_key = "SECRET_" + "k" * 120
    twice.write_text(f"{long_key} = 1\n{long_key} = 2\n")
    long_value = tmp_path / "long.toml"
    long_value.write_text(f'name = "{"SECRET-" * 40}"\n')
    assert main(["preset", "check", str(secret_toml), str(line_toml), str(not_toml), str(twice), str(long_value)]) == 1
    out = capsys.readouterr().out
    assert out.count("FAIL ") == 5
    assert "secret.toml: " in out and "unknown key 'password'" in out and "'name'" in out
    assert "passwd: not valid TOML at line 1, column 5" in out
    assert "twice.toml: not valid TOML at line 2" in out
    # A wrong value is quoted in a short excerpt (40 characters at most) to say what was wrong; an unknown key's
    # value, a file that is not TOML and a key the parser complains of are not quoted beyond that.
    assert "'name' = 'SECRET-NAME-do-not-print'" in out
    assert "hunter2" not in out and "SECRET-root" not in out and long_key not in out and "SECRET-" * 6 not in out
    for word in ("cull_grade", "Liquify", "max_clipped_share"):      # values of line.toml: not quoted
        assert word not in out


def test_a_value_error_quotes_a_short_escaped_excerpt(tmp_path):
    path = tmp_path / "look.toml"
    path.write_text('name = "look"\nformat = 2\ndescription = 5\n[tone]\nexposure_ev = "bright\\u001b[2J' + "x" * 100 + '"\n')
    with pytest.raises(PresetError) as caught:
        load_preset_file(path)
    message = str(caught.value)
    assert "'tone.exposure_ev' = 'bright\\x1b[2Jxx" in message and "\x1b" not in message
    assert "x" * 60 not in message
