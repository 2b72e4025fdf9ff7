"""A file the order's run needs that cannot be used (a recipe with a misspelt key, a preset's LUT that is not a
LUT, a wrong key in the line file) stops the order where the studio can fix it: `order create` refuses it, and
a run started after the file broke stops before any photo is worked, naming the file, the key and what to do,
without a traceback. Fixed, the order runs and delivers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.line import DEFAULT_LINE_FILE, get_line
from config.settings import get_settings
from presets.model import load_preset
from presets.recipe import RECIPES_DIR
from record import work
from record.db import transaction
from tasks.inputs import NotReady, check_inputs
from tasks.synthetic import write_card
from tests.flowkit import Delivery, cli


@pytest.fixture
def recipes(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    shutil.copytree(RECIPES_DIR, folder)
    monkeypatch.setenv("POSTLINE_RECIPES_DIR", str(folder))
    get_settings.cache_clear()
    return folder


def _break(recipe: Path) -> str:
    good = recipe.read_text()
    recipe.write_text(good.replace("quality = 92", "qualty = 92", 1))
    return good


def test_order_create_refuses_a_broken_recipe(home, recipes, tmp_path):
    _break(recipes / "wedding.toml")
    code, said = cli("order", "create", "--client", "Lena", "--shoot", "wedding", "--from",
                     str(write_card(tmp_path / "card", 1, size=(64, 48))), "--no-selection")
    assert code == 2
    assert "wedding.toml: unknown key 'renditions[0].qualty'" in said and "Traceback" not in said
    with transaction() as session:
        assert work.orders(session) == []


def test_a_recipe_broken_after_the_order_was_made_stops_the_run_before_any_photo(home_on_server, recipes, tmp_path,
                                                                                 capfd):
    card = write_card(tmp_path / "card", 2, size=(300, 200))
    code, made = cli("order", "create", "--client", "Lena", "--shoot", "wedding", "--from", str(card),
                     "--no-selection")
    assert code == 0, made
    order_id = int(made.strip().splitlines()[-1])
    good = _break(recipes / "wedding.toml")
    capfd.readouterr()
    code, ran = cli("order", "run", str(order_id))
    printed = ran + "".join(capfd.readouterr())
    assert code != 0
    assert f"order {order_id} cannot run: " in printed and "unknown key 'renditions[0].qualty'" in printed
    assert f"run `postline order run {order_id}` again" in printed
    assert "Traceback" not in printed
    with transaction() as session:
        assert work.photos(session, order_id) == []              # stopped before ingest: nothing was worked
    (recipes / "wedding.toml").write_text(good)
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    assert len(Delivery(Path(ran.strip().splitlines()[-1])).delivered_sources()) == 2


def test_a_preset_whose_lut_is_not_a_lut_and_a_wrong_line_are_named_together(tmp_path):
    bad_cube = tmp_path / "film.cube"
    bad_cube.write_text("LUT_3D_SIZE 17\n0.1 0.2\n")
    preset = load_preset("neutral").model_copy(update={"lut": load_preset("neutral").lut.model_copy(
        update={"file": str(bad_cube)})})
    line = tmp_path / "line.toml"
    line.write_text(DEFAULT_LINE_FILE.read_text().replace("max_clipped_share", "max_clipped_shar"))
    from config.line import load_line

    with pytest.raises(NotReady) as raised:
        check_inputs(preset, line=lambda: load_line(line), recipe=lambda: None)
    said = str(raised.value)
    assert f"the LUT of preset 'neutral': {bad_cube}, line 2: cannot read it: neither a keyword" in said
    assert "unknown key 'qc_gate.max_clipped_shar'" in said
    check_inputs(load_preset("neutral"), line=get_line, recipe=lambda: None)          # the shipped ones are fine


@pytest.mark.parametrize(("stop", "code", "said"), [
    ("disk", 1, "error: order {id} stopped: No space left on /mnt/photos: free at least 42 MB there"),
    ("ctrl-c", 130, "order {id} stopped (interrupted): run `postline order run {id}` again to go on"),
])
def test_a_run_stopped_by_the_machine_or_by_ctrl_c_says_order_n_stopped(home, tmp_path, monkeypatch, stop, code, said):
    """The command's last words, as the README shows them, whatever stopped the run (the run itself is
    tests/test_full_disk.py's)."""
    from surfaces.cli import orders as cli_orders
    from tasks.errors import OutOfSpace

    code_made, made = cli("order", "create", "--client", "Lena", "--shoot", "wedding", "--from",
                          str(write_card(tmp_path / "card", 1, size=(64, 48))), "--no-selection")
    order_id = int(made.strip().splitlines()[-1])

    def stopped(order_id, wait=False):
        raise OutOfSpace("No space left on /mnt/photos: free at least 42 MB there") if stop == "disk" \
            else KeyboardInterrupt()

    monkeypatch.setattr(cli_orders, "run_order", stopped)
    got, printed = cli("order", "run", str(order_id))
    assert got == code and said.format(id=order_id) in printed and "Traceback" not in printed
