"""What an order's run needs besides its photos: the line, the delivery recipe and the preset's LUT. Checked when
the order is created and again when a run starts, before any photo is worked: a misspelt key in a recipe was
found only at delivery, after every photo had been graded and checked, and a LUT that cannot be read failed
every photo one by one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from config.errors import Invalid
from presets.model import Preset, lut_path
from tasks.pixels.lut import LutError, read_cube


class NotReady(Invalid):
    """A file the order's run needs cannot be used; the message names each and what is wrong."""


def check_inputs(preset: Preset, *, line: Callable[[], object], recipe: Callable[[], object]) -> None:
    """Raise :class:`NotReady` naming every file among the line (``line()``), the recipe (``recipe()``) and the
    preset's LUT that cannot be used."""
    said = []
    for load in (line, recipe):
        try:
            load()
        except Invalid as exc:
            said.append(str(exc))
    if preset.lut.file:
        try:
            read_cube(lut_path(preset.lut.file))
        except LutError as exc:
            said.append(f"the LUT of preset {preset.name!r}: {exc} (`postline preset check` checks a preset)")
    if said:
        raise NotReady("; ".join(said))


def check_order(order_id: int) -> None:
    """:func:`check_inputs` for an order as its run will use them: its recorded preset, its line, its recipe (its
    own, or its shoot type's); and, before its first ingest, its card folder."""
    from record import work
    from record.db import transaction
    from tasks.deliver import recipe_of

    with transaction() as session:
        order = work.get_order(session, order_id)
        preset = Preset.model_validate_json(order.preset_json)
        if not Path(order.card_folder).is_dir() and not work.known_sources(session, order_id):
            raise NotReady(f"order {order_id} cannot run: its card folder {order.card_folder} is not there (a card "
                           "taken out, a drive not mounted?). Put it back there, then run `postline order run "
                           f"{order_id}` again; nothing of the order was read yet")
        try:
            check_inputs(preset, line=lambda: work.order_line(session, order_id), recipe=lambda: recipe_of(order))
        except NotReady as exc:
            raise NotReady(f"order {order_id} cannot run: {exc}. Fix it and run `postline order run {order_id}` "
                           "again; no photo was worked with it") from None
